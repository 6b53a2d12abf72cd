package s3util

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// StatusCode returns the HTTP status of the S3 answer in err's chain, or 0.
func StatusCode(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// ErrorCode returns the S3 error code ("NoSuchKey", "AccessDenied") in
// err's chain, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsNotFound reports whether err says the object (or upload) does not exist.
// A missing bucket is not "not found": see IsNoSuchBucket.
func IsNotFound(err error) bool {
	switch ErrorCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	case "NoSuchBucket":
		return false
	}
	return StatusCode(err) == http.StatusNotFound
}

// IsNoSuchBucket reports whether err says the bucket does not exist.
func IsNoSuchBucket(err error) bool { return ErrorCode(err) == "NoSuchBucket" }

// IsAccessDenied reports whether err is a refusal of the credentials or
// their rights (403, unknown key id, bad signature).
func IsAccessDenied(err error) bool {
	switch ErrorCode(err) {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled":
		return true
	}
	return StatusCode(err) == http.StatusForbidden
}

// IsTransient reports whether err may go away if the same request is made
// again later: throttling, a 5xx answer, a timeout, a dropped connection.
// Context cancellation and 4xx answers are permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch ErrorCode(err) {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
		"InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests":
		return true
	}
	if s := StatusCode(err); s != 0 {
		return s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
