// Package bsongen generates random BSON documents for property tests.
package bsongen

import (
	"fmt"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
	"pgregory.net/rapid"
)

// Doc draws a random document with an _id. With ferret, it draws only what
// FerretDB stores unchanged: no Decimal128, no arrays directly in arrays, no
// infinities, NaN or -0.0, no MinKey/MaxKey, JavaScript, symbols,
// undefined or DB pointers, and no '.' or '$' in field names.
func Doc(t *rapid.T, label string, ferret bool) bson.D {
	d := bson.D{{Key: "_id", Value: value(t, label+"_id", 0, ferret, false)}}
	return append(d, fields(t, label, 1, ferret)...)
}

func fields(t *rapid.T, label string, depth int, ferret bool) bson.D {
	n := rapid.IntRange(0, 6).Draw(t, label+"n")
	var d bson.D
	seen := map[string]bool{"_id": true}
	for i := range n {
		k := key(t, fmt.Sprintf("%sk%d", label, i), ferret)
		if seen[k] {
			continue
		}
		seen[k] = true
		d = append(d, bson.E{Key: k, Value: value(t, fmt.Sprintf("%sv%d", label, i), depth, ferret, false)})
	}
	return d
}

func key(t *rapid.T, label string, ferret bool) string {
	if ferret {
		return rapid.StringMatching(`[a-zA-Zé_][a-zA-Z0-9é_ ]{0,8}`).Draw(t, label)
	}
	return rapid.StringMatching(`[a-zA-Z$._é🎉][a-zA-Z0-9$._ é]{0,8}`).Draw(t, label)
}

func value(t *rapid.T, label string, depth int, ferret, inArray bool) any {
	kinds := 18
	if !ferret {
		kinds = 28
	}
	switch k := rapid.IntRange(0, kinds-1).Draw(t, label); k {
	case 0:
		return rapid.Int32().Draw(t, label+"i32")
	case 1:
		return rapid.Int64().Draw(t, label+"i64")
	case 2:
		f := rapid.Float64().Draw(t, label+"f")
		if ferret && (math.IsInf(f, 0) || math.IsNaN(f) || (f == 0 && math.Signbit(f))) {
			f = 1.5
		}
		return f
	case 3:
		return rapid.String().Draw(t, label+"s")
	case 4:
		return rapid.Bool().Draw(t, label+"b")
	case 5:
		return nil
	case 6:
		var oid bson.ObjectID
		copy(oid[:], rapid.SliceOfN(rapid.Byte(), 12, 12).Draw(t, label+"oid"))
		return oid
	case 7:
		ms := rapid.Int64Range(-5e12, 5e12).Draw(t, label+"dt")
		return bson.DateTime(ms)
	case 8:
		return bson.Timestamp{T: rapid.Uint32().Draw(t, label+"tt"), I: rapid.Uint32Range(1, math.MaxUint32).Draw(t, label+"ti")}
	case 9:
		sub := rapid.SampledFrom([]byte{0, 4, 5, 0x80}).Draw(t, label+"sub")
		n := rapid.IntRange(0, 40).Draw(t, label+"bl")
		if sub == 4 || sub == 5 {
			n = 16
		}
		return bson.Binary{Subtype: sub, Data: rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, label+"bin")}
	case 10:
		return bson.Regex{Pattern: rapid.StringMatching(`[a-z^$.*]{0,6}`).Draw(t, label+"re"), Options: rapid.SampledFrom([]string{"", "i", "im", "imsx"}).Draw(t, label+"ro")}
	case 11, 12:
		if depth >= 3 {
			return int32(depth)
		}
		return fields(t, label+"d", depth+1, ferret)
	case 13, 14:
		if depth >= 3 || (ferret && inArray) {
			return "leaf"
		}
		n := rapid.IntRange(0, 4).Draw(t, label+"an")
		a := bson.A{}
		for i := range n {
			a = append(a, value(t, fmt.Sprintf("%sa%d", label, i), depth+1, ferret, true))
		}
		return a
	case 15:
		return bson.D{}
	case 16:
		return rapid.Int32Range(-3, 3).Draw(t, label+"small")
	case 17:
		return rapid.StringMatching(`[héllo 🎉\x00-\x7f]{0,20}`).Draw(t, label+"u")
	case 18:
		dec, err := bson.ParseDecimal128(rapid.SampledFrom([]string{"0", "-0", "1.10", "1E+6144", "-1234567890.123456789012345678901234", "NaN", "Infinity"}).Draw(t, label+"dec"))
		if err != nil {
			panic(err)
		}
		return dec
	case 19:
		return math.Inf(rapid.SampledFrom([]int{1, -1}).Draw(t, label+"inf"))
	case 20:
		return math.NaN()
	case 21:
		return math.Copysign(0, -1)
	case 22:
		return bson.MinKey{}
	case 23:
		return bson.MaxKey{}
	case 24:
		return bson.JavaScript(rapid.String().Draw(t, label+"js"))
	case 25:
		return bson.CodeWithScope{Code: "f()", Scope: bson.D{{Key: "x", Value: int32(1)}}}
	case 26:
		return bson.A{bson.A{int32(1)}, bson.A{}}
	default:
		return bson.Symbol(rapid.String().Draw(t, label+"sym"))
	}
}
