// The one vendored bundle: Uppy's core, its Dashboard and its S3 uploader, exposed to the page's
// classic scripts as window.AssetgateVendor (no module loader, no inline script).
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import AwsS3 from '@uppy/aws-s3'

window.AssetgateVendor = Object.freeze({ Uppy, Dashboard, AwsS3 })
