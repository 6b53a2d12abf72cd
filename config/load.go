package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Options tune Parse and Load. The zero value is ready to use and is what the
// package-level Load and Parse use.
type Options struct {
	// LookupEnv resolves ${NAME} references in values. Nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

// Load reads, checks and completes the config file at path. Relative paths in
// its URLs are resolved against the folder the file is in. See Options.Load.
func Load(path string) (*Config, error) { return Options{}.Load(path) }

// Parse checks and completes a config held in data. See Options.Parse.
func Parse(data []byte, baseDir, name string) (*Config, error) {
	return Options{}.Parse(data, baseDir, name)
}

// Load reads the file at path and parses it with o.Parse, under the name path
// and with the file's folder as base directory. A missing file gives an error
// "config file PATH: no such file" that matches fs.ErrNotExist.
func (o Options) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	return o.Parse(data, dir, path)
}

// Parse decodes the YAML config in data, expands ${NAME} references in its
// values, checks it, resolves relative URLs against baseDir (the working
// directory if empty; see ResolveURL) and fills in defaults. name is used in
// messages, usually the file's path ("config" if empty).
//
// On failure it returns a nil Config and every problem found, each an *Error,
// joined with errors.Join and sorted by line: unknown or duplicate keys, values
// of the wrong type, unset variables, and invalid settings.
func (o Options) Parse(data []byte, baseDir, name string) (*Config, error) {
	if name == "" {
		name = "config"
	}
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	root, err := parseYAML(data, name)
	if err != nil {
		return nil, err
	}
	d := newDecoder(name, lookup)
	d.baseDir = baseDir
	var cfg Config
	d.decode(root, reflect.ValueOf(&cfg).Elem(), "", root.Line)
	v := &validator{file: name, baseDir: baseDir, resolve: true, dec: d}
	v.config(&cfg)
	v.errs = append(d.errs, v.errs...)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := applyDefaults(&cfg, baseDir); err != nil {
		return nil, &Error{File: name, Path: "store", Msg: err.Error()}
	}
	return &cfg, nil
}

// applyDefaults fills in what the file left empty. It runs after validation.
func applyDefaults(c *Config, baseDir string) error {
	if c.Store == "" {
		s, err := ResolveURL(DefaultStore, baseDir)
		if err != nil {
			return err
		}
		c.Store = s
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	for i := range c.Jobs {
		j := &c.Jobs[i]
		if j.Timezone == "" {
			j.Timezone = DefaultTimezone
		}
		if j.Compression == "" {
			j.Compression = DefaultCompression
		}
	}
	return nil
}

// fileError is the error of Load when the file cannot be read.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	if errors.Is(e.err, fs.ErrNotExist) {
		return fmt.Sprintf("config file %s: no such file", e.path)
	}
	err := e.err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("config file %s: %v", e.path, err)
}

func (e *fileError) Unwrap() error { return e.err }

// yamlLine matches the position yaml.v3 puts into its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into a node tree and returns its root, which is
// neither empty nor null.
func parseYAML(data []byte, name string) (*yaml.Node, error) {
	empty := &Error{File: name, Msg: `config is empty (want a mapping with "destinations" and "jobs")`}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, empty
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, empty
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		return nil, syntaxError(name, err)
	default:
		return nil, &Error{File: name, Line: extra.Line, Msg: "a second YAML document is not allowed (remove the \"---\")"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, empty
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == nullTag {
		return nil, empty
	}
	return root, nil
}

// syntaxError turns a yaml.v3 parse error into an *Error with its line.
func syntaxError(name string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decoder fills Go values from a YAML node tree, guided by the values' types
// and their yaml tags. It collects every problem instead of stopping at the
// first, expands environment references in the scalars it decodes, and
// records where each key path is, for the validator's messages.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	errs   []*Error
	// nodes and lines map a key path to its value node and to the line to
	// report for it: the key's line for mapping entries, the item's line for
	// sequence items.
	nodes map[string]*yaml.Node
	lines map[string]int
	// bad holds the paths whose value could not be decoded, so that the
	// validator does not report them again.
	bad map[string]bool
	// expanded remembers scalars already expanded in place, since aliases can
	// reach a node more than once.
	expanded map[*yaml.Node]error
	// entries remembers the entries of mappings already read, so that merge
	// keys cannot make the work grow exponentially.
	entries map[*yaml.Node][]pair
	// changed holds the scalars whose value expansion changed.
	changed map[*yaml.Node]bool
	// baseDir is what relative paths of *_file keys are read against.
	baseDir string
}

func newDecoder(file string, lookup func(string) (string, bool)) *decoder {
	return &decoder{
		file:     file,
		lookup:   lookup,
		nodes:    map[string]*yaml.Node{},
		lines:    map[string]int{},
		bad:      map[string]bool{},
		expanded: map[*yaml.Node]error{},
		entries:  map[*yaml.Node][]pair{},
		changed:  map[*yaml.Node]bool{},
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.bad[path] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// decode stores n into v, which is addressable. path names v and line is the
// line to report for it.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.nodes[path] = n
	d.lines[path] = line
	if n.Kind == yaml.ScalarNode && !d.expand(n, path, line) {
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(path, line, "%s", err.Error())
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag {
		return // null leaves the zero value
	}
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		// secret.String: never put the value into a message.
		if n.Kind != yaml.ScalarNode {
			d.fail(path, line, "expected a string, got %s", describe(n))
		} else if err := tu.UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(path, line, "invalid value")
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path, line)
	case reflect.Map:
		d.decodeMap(n, v, path, line)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, line, "expected a sequence, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), item.Line)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, line, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path, line)
		v.Set(p)
	default: // numbers and booleans
		want := goKind(v.Kind())
		if n.Kind != yaml.ScalarNode {
			d.fail(path, line, "expected %s, got %s", want, describe(n))
			return
		}
		if d.changed[n] && n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
			// "retries: ${N}" was a string before expansion; let the value
			// say what it is now.
			c := *n
			c.Tag = ""
			n = &c
		}
		isInt := v.CanInt() || v.CanUint()
		if err := n.Decode(v.Addr().Interface()); err != nil || isInt && n.ShortTag() == "!!float" {
			d.fail(path, line, "expected %s, got %q", want, n.Value)
		}
	}
}

// goKind names a kind of Go value for messages.
func goKind(k reflect.Kind) string {
	switch {
	case k == reflect.Bool:
		return "a boolean"
	case k >= reflect.Int && k <= reflect.Int64:
		return "an integer"
	case k >= reflect.Uint && k <= reflect.Uintptr:
		return "a non-negative integer"
	case k == reflect.Float32 || k == reflect.Float64:
		return "a number"
	}
	return "a " + k.String()
}

// expand expands environment references in the scalar n in place, once. It
// reports whether that succeeded.
func (d *decoder) expand(n *yaml.Node, path string, line int) bool {
	if err, done := d.expanded[n]; done {
		if err != nil {
			d.bad[path] = true
		}
		return err == nil
	}
	v, err := expandEnv(n.Value, d.lookup)
	d.expanded[n] = err
	if err != nil {
		d.fail(path, line, "%s", err.Error())
		return false
	}
	if v != n.Value {
		n.Value = v
		d.changed[n] = true
	}
	return true
}

// pair is one key/value entry of a mapping, after merges.
type pair struct{ key, value *yaml.Node }

// pairs returns the entries of mapping n, with the entries of mappings merged
// in with "<<" after them unless n has the key itself, as YAML merge keys
// work. It reports duplicate and non-string keys.
func (d *decoder) pairs(n *yaml.Node, path string, visiting map[*yaml.Node]bool) []pair {
	if e, ok := d.entries[n]; ok {
		return e
	}
	visiting[n] = true
	defer delete(visiting, n)
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == mergeTag {
			merged = append(merged, d.merge(val, path, visiting)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(join(path, k.Value), k.Line, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, val})
	}
	for _, p := range merged {
		if _, dup := seen[p.key.Value]; !dup {
			seen[p.key.Value] = p.key
			own = append(own, p)
		}
	}
	d.entries[n] = own
	return own
}

// merge returns the entries a "<<" value brings in: one mapping, or a
// sequence of mappings where earlier ones win.
func (d *decoder) merge(val *yaml.Node, path string, visiting map[*yaml.Node]bool) []pair {
	var sources []*yaml.Node
	if val.Kind == yaml.SequenceNode {
		sources = val.Content
	} else {
		sources = []*yaml.Node{val}
	}
	var out []pair
	for _, s := range sources {
		if s.Kind == yaml.AliasNode && s.Alias != nil {
			s = s.Alias
		}
		if s.Kind != yaml.MappingNode {
			d.fail(path+".<<", s.Line, "expected a mapping to merge, got %s", describe(s))
			d.bad[path] = true // what it holds is incomplete: do not validate it
			continue
		}
		if visiting[s] {
			d.fail(path+".<<", s.Line, "mapping merges itself")
			d.bad[path] = true
			continue
		}
		out = append(out, d.pairs(s, path, visiting)...)
	}
	return out
}

// decodeStruct fills struct v from mapping n, rejecting keys that match no
// field's yaml name.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, line, "expected a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	set := map[int]string{} // field index -> the key that set it
	for _, p := range d.pairs(n, path, map[*yaml.Node]bool{}) {
		key := p.key.Value
		idx, ok := fields.index[key]
		fileIdx, isFile := fields.files[key]
		if isFile {
			idx = fileIdx
		}
		if ok || isFile {
			if first, dup := set[idx]; dup {
				d.fail(join(path, key), p.key.Line, "set %s or %s, not both", first, key)
				continue
			}
			set[idx] = key
		}
		if isFile {
			d.decodeFile(p.value, v.Field(idx), join(path, key), p.key.Line)
			continue
		}
		if !ok {
			msg := "unknown key"
			if s := suggest(key, fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(join(path, key), p.key.Line, "%s", msg)
			continue
		}
		d.decode(p.value, v.Field(idx), join(path, key), p.key.Line)
	}
}

// decodeMap fills map v, whose keys are strings, from mapping n.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, line, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("config: map keys must be strings: " + v.Type().String())
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path, map[*yaml.Node]bool{}) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.value, elem, join(path, p.key.Value), p.key.Line)
		v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
}

// decodeFile fills the string field v from the file named by the scalar n
// (a "*_file" key; relative paths are read against d.baseDir), without one
// trailing line break. Messages name the file, never its content.
func (d *decoder) decodeFile(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.nodes[path] = n
	d.lines[path] = line
	// The setting the file fills in is reported on this line, and not again
	// as missing when the file cannot be read.
	field := strings.TrimSuffix(path, "_file")
	d.lines[field] = line
	d.bad[field] = true
	if n.Kind != yaml.ScalarNode || n.ShortTag() == nullTag {
		d.fail(path, line, "expected a file name, got %s", describe(n))
		return
	}
	if !d.expand(n, path, line) {
		return
	}
	name := n.Value
	if !filepath.IsAbs(name) {
		name = filepath.Join(d.baseDir, name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.fail(path, line, "cannot read %s: %v", name, err)
		return
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		d.fail(path, line, "%s is empty", name)
		return
	}
	v.SetString(s)
	delete(d.bad, field)
}

// structFields lists the yaml names of a struct type's fields.
type structFields struct {
	names []string       // in field order
	index map[string]int // name -> field index
	// files maps "NAME_file" to the index of field NAME, for string fields
	// tagged `secret:"file"`: their value may be read from a file instead.
	files map[string]int
}

// yamlFields returns the yaml names of t's exported fields: the tag's name, or
// the lower-cased field name without one. Fields tagged "-" are left out.
func yamlFields(t reflect.Type) structFields {
	f := structFields{index: map[string]int{}, files: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.names = append(f.names, name)
		f.index[name] = i
		if sf.Tag.Get("secret") == "file" && sf.Type.Kind() == reflect.String {
			f.names = append(f.names, name+"_file")
			f.files[name+"_file"] = i
		}
	}
	return f
}

// plainKey matches map keys that can follow a "." in a key path as they are.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// join appends key to a key path: "jobs[0]" + "name" is "jobs[0].name"; keys
// with other characters are quoted: destinations["my dest"].
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		return fmt.Sprintf("%s[%q]", path, key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
