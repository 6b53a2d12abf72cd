// Package s3 is the source adapter for the objects of an S3 bucket (AWS or
// an S3-compatible store such as MinIO, R2 or Spaces), or of a prefix of one.
package s3
