"""Storage: the table's models and keys, reads and conditional writes, S3 objects, the AWS clients."""
