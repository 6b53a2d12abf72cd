// Package s3 is the destination adapter for Amazon S3 and S3-compatible
// stores (MinIO, Cloudflare R2, DigitalOcean Spaces, Backblaze B2, ...).
package s3
