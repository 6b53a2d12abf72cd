package s3util

import "testing"

func TestPartSizeFor(t *testing.T) {
	const base = 8 << 20
	var total int64
	for n := int32(1); n <= MaxParts; n++ {
		s := partSizeFor(base, n)
		if s < base || s > MaxPartSize {
			t.Fatalf("part %d: size %d", n, s)
		}
		total += s
	}
	if partSizeFor(base, 2000) != base || partSizeFor(base, 2001) != 2*base {
		t.Fatal("the part size must double after 2,000 parts")
	}
	if total < 400<<30 {
		t.Fatalf("10,000 parts hold only %d bytes", total)
	}
	if partSizeFor(1<<30, MaxParts) != MaxPartSize {
		t.Fatal("part size above S3's maximum")
	}
}
