package apidoc

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Reference is the document shaped for the /docs/api page: operations
// grouped by tag in the document's order, each with its parameters, its
// request body and its responses flattened into field tables.
type Reference struct {
	Title, Version, Description string
	Security                    []Scheme
	Tags                        []Tag
	// Shared are the error bodies the responses name instead of repeating
	// their fields under every status of every operation.
	Shared []Schema
}

// Schema is a named component schema shown once.
type Schema struct {
	Name, Description string
	Fields            []Field
}

// Scheme is a security scheme.
type Scheme struct{ Name, Kind, Description string }

// Tag is a group of operations.
type Tag struct {
	Name, Description string
	Operations        []Operation
}

// Operation is one method on one path.
type Operation struct {
	ID, Method, Path, Summary, Description string
	// Security names the accepted schemes ("none" for a public endpoint).
	Security   []string
	Parameters []Field
	Request    *Body
	Responses  []Response
}

// Body is a request or response body: its fields, or (for an error
// response) Schema, the name of a Shared schema.
type Body struct {
	MediaTypes []string
	Fields     []Field
	Schema     string
	Example    string
}

// Response is one documented status.
type Response struct {
	Status, Description string
	Headers             []Field
	Body                *Body
}

// Field is one row of a table: a parameter, header or (dotted) property.
type Field struct {
	Name, Type, Description string
	Required                bool
	Enum                    []string
}

// methods are the Path Item fields that are operations (OpenAPI 3.1 §4.8.9).
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Reference builds the page model.
func (d *Doc) Reference() Reference {
	r := d.root
	info := get(r, "info")
	ref := Reference{Title: str(get(info, "title")), Version: str(get(info, "version")), Description: unwrap(str(get(info, "description")))}
	for _, kv := range pairs(get(get(r, "components"), "securitySchemes")) {
		s := kv[1]
		kind := str(get(s, "type"))
		if sc := str(get(s, "scheme")); sc != "" {
			kind += " " + sc
		}
		if in := str(get(s, "in")); in != "" {
			kind += " (" + in + " " + str(get(s, "name")) + ")"
		}
		ref.Security = append(ref.Security, Scheme{Name: kv[0].Value, Kind: kind, Description: str(get(s, "description"))})
	}
	byTag := map[string]int{}
	for _, t := range deref(get(r, "tags")).Content {
		byTag[str(get(t, "name"))] = len(ref.Tags)
		ref.Tags = append(ref.Tags, Tag{Name: str(get(t, "name")), Description: str(get(t, "description"))})
	}
	global := security(get(r, "security"))
	shared := map[string]bool{}
	for _, pkv := range pairs(get(r, "paths")) {
		path, item := pkv[0].Value, pkv[1]
		params := get(item, "parameters")
		for _, okv := range pairs(item) {
			method := strings.ToUpper(okv[0].Value)
			if !slices.Contains(methods, okv[0].Value) {
				continue // parameters, summary, description, servers
			}
			op := d.operation(method, path, okv[1], params, global, shared)
			tag := "other"
			if tags := get(okv[1], "tags"); tags != nil && len(tags.Content) > 0 {
				tag = tags.Content[0].Value
			}
			i, ok := byTag[tag]
			if !ok {
				i = len(ref.Tags)
				byTag[tag] = i
				ref.Tags = append(ref.Tags, Tag{Name: tag})
			}
			ref.Tags[i].Operations = append(ref.Tags[i].Operations, op)
		}
	}
	for _, kv := range pairs(get(get(r, "components"), "schemas")) {
		if shared[kv[0].Value] {
			sc := Schema{Name: kv[0].Value, Description: str(get(kv[1], "description"))}
			d.fields(&sc.Fields, "", kv[1], nil, 0)
			ref.Shared = append(ref.Shared, sc)
		}
	}
	return ref
}

func (d *Doc) operation(method, path string, n, params *yaml.Node, global []string, shared map[string]bool) Operation {
	op := Operation{ID: str(get(n, "operationId")), Method: method, Path: path,
		Summary: str(get(n, "summary")), Description: unwrap(str(get(n, "description"))), Security: global}
	if s := get(n, "security"); s != nil {
		op.Security = security(s)
	}
	for _, list := range []*yaml.Node{params, get(n, "parameters")} {
		for _, p := range d.resolve(list).Content {
			p = d.resolve(p)
			op.Parameters = append(op.Parameters, Field{
				Name: str(get(p, "name")) + " (" + str(get(p, "in")) + ")", Type: d.typeOf(get(p, "schema")),
				Description: str(get(p, "description")), Required: str(get(p, "required")) == "true",
			})
		}
	}
	if rb := d.resolve(get(n, "requestBody")); rb != nil {
		op.Request = d.body(get(rb, "content"), nil)
	}
	for _, kv := range pairs(get(n, "responses")) {
		resp := d.resolve(kv[1])
		var names map[string]bool
		if strings.HasPrefix(kv[0].Value, "4") || strings.HasPrefix(kv[0].Value, "5") {
			names = shared // error bodies are shown once, by name
		}
		out := Response{Status: kv[0].Value, Description: str(get(resp, "description")), Body: d.body(get(resp, "content"), names)}
		for _, hkv := range pairs(get(resp, "headers")) {
			h := d.resolve(hkv[1])
			out.Headers = append(out.Headers, Field{Name: hkv[0].Value, Type: d.typeOf(get(h, "schema")),
				Description: str(get(h, "description")), Required: str(get(h, "required")) == "true"})
		}
		op.Responses = append(op.Responses, out)
	}
	return op
}

func security(n *yaml.Node) []string {
	n = deref(n)
	if n == nil {
		return nil
	}
	var out []string
	for _, req := range n.Content {
		var names []string
		for _, kv := range pairs(req) {
			names = append(names, kv[0].Value)
		}
		if len(names) == 0 {
			names = []string{"none"}
		}
		out = append(out, strings.Join(names, " + "))
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

// body describes a body; when shared is set and the schema is a
// component, it only names the schema and records it in shared.
func (d *Doc) body(content *yaml.Node, shared map[string]bool) *Body {
	if content == nil || len(content.Content) == 0 {
		return nil
	}
	b := &Body{}
	var schema *yaml.Node
	for _, kv := range pairs(content) {
		b.MediaTypes = append(b.MediaTypes, kv[0].Value)
		if schema == nil {
			schema = get(kv[1], "schema")
			if ex := get(kv[1], "example"); ex != nil {
				b.Example = exampleJSON(ex)
			}
		}
	}
	if r := get(schema, "$ref"); r != nil && shared != nil && strings.HasPrefix(r.Value, "#/components/schemas/") {
		b.Schema = strings.TrimPrefix(r.Value, "#/components/schemas/")
		shared[b.Schema] = true
		return b
	}
	d.fields(&b.Fields, "", schema, nil, 0)
	return b
}

// fields flattens a schema's properties into rows named by their dotted
// path (items of an array as name[]).
func (d *Doc) fields(out *[]Field, prefix string, s *yaml.Node, required map[string]bool, depth int) {
	s = d.resolve(s)
	if s == nil || depth > 4 {
		return
	}
	for _, part := range d.resolve(get(s, "allOf")).Content {
		d.fields(out, prefix, part, required, depth+1)
	}
	req := map[string]bool{}
	for _, r := range deref(get(s, "required")).Content {
		req[r.Value] = true
	}
	if props := get(s, "properties"); props != nil {
		for _, kv := range pairs(props) {
			p := d.resolve(kv[1])
			name := prefix + kv[0].Value
			f := Field{Name: name, Type: d.typeOf(kv[1]), Description: str(get(p, "description")), Required: req[kv[0].Value]}
			for _, e := range deref(get(p, "enum")).Content {
				f.Enum = append(f.Enum, e.Value)
			}
			if c := get(p, "const"); c != nil {
				f.Enum = []string{c.Value}
			}
			*out = append(*out, f)
			d.fields(out, name+".", p, nil, depth+1)
			if items := get(p, "items"); items != nil {
				d.fields(out, name+"[].", items, nil, depth+1)
			}
		}
	} else if len(req) > 0 {
		// allOf parts that only add required fields.
		for i := range *out {
			if req[strings.TrimPrefix((*out)[i].Name, prefix)] {
				(*out)[i].Required = true
			}
		}
	}
}

// typeOf names a schema's type for a table cell.
func (d *Doc) typeOf(s *yaml.Node) string {
	if s == nil {
		return ""
	}
	name := ""
	if r := get(s, "$ref"); r != nil {
		name = r.Value[strings.LastIndex(r.Value, "/")+1:]
	}
	s = d.resolve(s)
	t := get(s, "type")
	var types []string
	switch {
	case t == nil && get(s, "allOf") != nil:
		types = []string{"object"}
	case t == nil:
		types = []string{"any"}
	case t.Kind == yaml.SequenceNode:
		for _, c := range t.Content {
			types = append(types, c.Value)
		}
	default:
		types = []string{t.Value}
	}
	out := strings.Join(types, " or ")
	if strings.Contains(out, "array") {
		out = strings.Replace(out, "array", "array of "+d.typeOf(get(s, "items")), 1)
	}
	if f := str(get(s, "format")); f != "" {
		out += " (" + f + ")"
	}
	if name != "" && strings.HasPrefix(out, "object") {
		return name
	}
	return out
}

// resolve follows aliases and local $refs.
func (d *Doc) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8; i++ {
		n = deref(n)
		r := get(n, "$ref")
		if r == nil || !strings.HasPrefix(r.Value, "#/") {
			return n
		}
		cur := d.root
		for _, seg := range strings.Split(r.Value[2:], "/") {
			cur = get(cur, strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~"))
		}
		n = cur
	}
	return n
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{}
	}
	return n
}

// get returns the value under key in a mapping, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	for _, kv := range pairs(n) {
		if kv[0].Value == key {
			return kv[1]
		}
	}
	return nil
}

// pairs lists a mapping's key/value pairs in order, aliases followed and
// YAML merge keys (<<: *anchor) expanded: the merged pairs first, then
// the mapping's own, which override merged ones of the same key.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	if n == nil {
		return nil
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]*yaml.Node
	at := map[string]int{}
	put := func(k, v *yaml.Node) {
		if i, ok := at[k.Value]; ok {
			out[i][1] = v
			return
		}
		at[k.Value] = len(out)
		out = append(out, [2]*yaml.Node{k, v})
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Tag != "!!merge" {
			put(k, v)
			continue
		}
		merged := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			merged = v.Content
		}
		for _, m := range merged {
			for _, kv := range pairs(m) {
				put(kv[0], kv[1])
			}
		}
	}
	return out
}

// unwrap joins the lines of each paragraph of a YAML block scalar, so the
// page (white-space: pre-line) breaks lines where the reader's screen
// needs, and paragraphs where the author left a blank line.
func unwrap(s string) string {
	paras := strings.Split(strings.TrimSpace(s), "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n\n")
}

func str(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// exampleJSON renders an example as indented JSON in the document's key order.
func exampleJSON(n *yaml.Node) string {
	var raw, out bytes.Buffer
	if writeJSON(&raw, n) != nil || json.Indent(&out, raw.Bytes(), "", "  ") != nil {
		return ""
	}
	return out.String()
}
