package testenv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"time"
)

// Probes: each connects with probeTimeout, does the smallest exchange that
// proves the right kind of server is answering, and closes. Errors name the
// address, never credentials.

func dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(probeTimeout))
	return c, nil
}

// probeMySQL reads the server's initial handshake packet (protocol 10).
func probeMySQL(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var hdr [4]byte // 3-byte little-endian payload length, sequence id
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("%s: reading MySQL greeting: %w", addr, err)
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n < 2 || n > 1<<16 {
		return fmt.Errorf("%s: not a MySQL greeting (length %d)", addr, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c, p); err != nil {
		return fmt.Errorf("%s: reading MySQL greeting: %w", addr, err)
	}
	switch p[0] {
	case 10:
		return nil
	case 0xff: // ERR packet: 2-byte code, then message (e.g. host not allowed)
		msg := ""
		if len(p) > 3 {
			msg = string(p[3:])
		}
		return fmt.Errorf("%s: MySQL server refused the connection: %s", addr, msg)
	default:
		return fmt.Errorf("%s: not a MySQL greeting (protocol byte %#x)", addr, p[0])
	}
}

// probePostgres sends an SSLRequest; a PostgreSQL server answers 'S' or 'N'.
func probePostgres(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:], 8)
	binary.BigEndian.PutUint32(req[4:], 80877103) // SSLRequest code
	if _, err := c.Write(req[:]); err != nil {
		return fmt.Errorf("%s: sending SSLRequest: %w", addr, err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("%s: reading SSLRequest answer: %w", addr, err)
	}
	if b[0] != 'S' && b[0] != 'N' {
		return fmt.Errorf("%s: not a PostgreSQL server (answered %q to SSLRequest)", addr, b[0])
	}
	return nil
}

// probeMongoDB sends OP_MSG {hello: 1, $db: "admin"} and wants {ok: 1}.
func probeMongoDB(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()

	doc := bsonDoc(func(b *bytes.Buffer) {
		bsonInt32(b, "hello", 1)
		bsonString(b, "$db", "admin")
	})
	const opMsg, requestID = 2013, 0x6b62 // "bk"
	var msg bytes.Buffer
	hdr := make([]byte, 16)
	binary.LittleEndian.PutUint32(hdr[0:], uint32(16+4+1+len(doc)))
	binary.LittleEndian.PutUint32(hdr[4:], requestID)
	binary.LittleEndian.PutUint32(hdr[8:], 0) // responseTo
	binary.LittleEndian.PutUint32(hdr[12:], opMsg)
	msg.Write(hdr)
	msg.Write([]byte{0, 0, 0, 0}) // flagBits
	msg.WriteByte(0)              // section kind 0: body
	msg.Write(doc)
	if _, err := c.Write(msg.Bytes()); err != nil {
		return fmt.Errorf("%s: sending hello: %w", addr, err)
	}

	if _, err := io.ReadFull(c, hdr); err != nil {
		return fmt.Errorf("%s: reading hello reply: %w", addr, err)
	}
	n := binary.LittleEndian.Uint32(hdr[0:])
	if n < 16+4+1+5 || n > 48<<20 {
		return fmt.Errorf("%s: not a MongoDB reply (length %d)", addr, n)
	}
	if op, to := binary.LittleEndian.Uint32(hdr[12:]), binary.LittleEndian.Uint32(hdr[8:]); op != opMsg || to != requestID {
		return fmt.Errorf("%s: not a MongoDB OP_MSG reply (opCode %d, responseTo %d)", addr, op, to)
	}
	body := make([]byte, n-16)
	if _, err := io.ReadFull(c, body); err != nil {
		return fmt.Errorf("%s: reading hello reply: %w", addr, err)
	}
	if body[4] != 0 {
		return fmt.Errorf("%s: MongoDB reply starts with section kind %d", addr, body[4])
	}
	ok, errmsg, err := bsonOK(body[5:])
	if err != nil {
		return fmt.Errorf("%s: MongoDB hello reply: %w", addr, err)
	}
	if !ok {
		return fmt.Errorf("%s: MongoDB hello failed: %s", addr, errmsg)
	}
	return nil
}

// probeHTTP GETs url. strict wants 200; otherwise any answer below 500 (an
// S3 endpoint that is not MinIO may answer 403 or 404 there) counts.
func probeHTTP(url string, strict bool) error {
	client := &http.Client{Timeout: probeTimeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusOK || (!strict && resp.StatusCode < 500) {
		return nil
	}
	return fmt.Errorf("GET %s: %s", url, resp.Status)
}

// probeSMTP reads the "220" greeting and says QUIT.
func probeSMTP(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: reading SMTP greeting: %w", addr, err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("%s: SMTP greeting is not 220: %q", addr, strings.TrimSpace(line))
	}
	_, _ = io.WriteString(c, "QUIT\r\n")
	return nil
}

// --- just enough BSON for hello ---

func bsonDoc(elems func(*bytes.Buffer)) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0})
	elems(&b)
	b.WriteByte(0)
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}

func bsonInt32(b *bytes.Buffer, name string, v int32) {
	b.WriteByte(0x10)
	b.WriteString(name)
	b.WriteByte(0)
	_ = binary.Write(b, binary.LittleEndian, v)
}

func bsonString(b *bytes.Buffer, name, v string) {
	b.WriteByte(0x02)
	b.WriteString(name)
	b.WriteByte(0)
	_ = binary.Write(b, binary.LittleEndian, int32(len(v)+1))
	b.WriteString(v)
	b.WriteByte(0)
}

// bsonOK walks a document's top-level elements for "ok" (double, int32 or
// int64 equal to 1) and "errmsg".
func bsonOK(doc []byte) (ok bool, errmsg string, err error) {
	if len(doc) < 5 {
		return false, "", errors.New("short BSON document")
	}
	n := int(binary.LittleEndian.Uint32(doc))
	if n < 5 || n > len(doc) {
		return false, "", fmt.Errorf("bad BSON document length %d", n)
	}
	d := doc[4 : n-1]
	for len(d) > 0 {
		typ := d[0]
		end := bytes.IndexByte(d[1:], 0)
		if end < 0 {
			return false, "", errors.New("bad BSON element name")
		}
		name := string(d[1 : 1+end])
		d = d[2+end:]
		var size int
		switch typ {
		case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
			size = 8
		case 0x10: // int32
			size = 4
		case 0x08: // bool
			size = 1
		case 0x0A: // null
			size = 0
		case 0x07: // ObjectId
			size = 12
		case 0x13: // decimal128
			size = 16
		case 0x02, 0x0D, 0x0E: // string, JS code, symbol
			if len(d) < 4 {
				return false, "", errors.New("truncated BSON")
			}
			size = 4 + int(binary.LittleEndian.Uint32(d))
		case 0x03, 0x04: // document, array
			if len(d) < 4 {
				return false, "", errors.New("truncated BSON")
			}
			size = int(binary.LittleEndian.Uint32(d))
		case 0x05: // binary
			if len(d) < 4 {
				return false, "", errors.New("truncated BSON")
			}
			size = 5 + int(binary.LittleEndian.Uint32(d))
		default:
			// A type hello does not use: stop here, judging by what we saw.
			return ok, errmsg, nil
		}
		if size < 0 || size > len(d) {
			return false, "", errors.New("truncated BSON")
		}
		v := d[:size]
		switch {
		case name == "ok" && typ == 0x01:
			ok = math.Float64frombits(binary.LittleEndian.Uint64(v)) == 1
		case name == "ok" && typ == 0x10:
			ok = binary.LittleEndian.Uint32(v) == 1
		case name == "ok" && typ == 0x12:
			ok = binary.LittleEndian.Uint64(v) == 1
		case name == "errmsg" && typ == 0x02 && size > 5:
			errmsg = string(v[4 : size-1])
		}
		d = d[size:]
	}
	return ok, errmsg, nil
}
