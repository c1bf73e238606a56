"""The domain: assets, versions, links, uploads, upload links, owners and their keys."""
