// Package apidoc holds Latchkey's machine-readable API contract: the
// OpenAPI 3.1 document openapi.yaml, embedded in the binary. It is the one
// source of truth — served as JSON at GET /openapi.json (Handler), rendered
// for people at GET /docs/api (Page, through the web package's layout), and
// checked against every JSON response the tests receive
// (internal/openapitest), so the document cannot drift from the handlers.
//
// The source is YAML (comments, anchors for the repeated rate-limit
// headers) and is converted to JSON once, at start-up, keeping its key
// order; the served document names the deployment's issuer as its server.
package apidoc

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var source []byte

// Source returns the embedded OpenAPI document as written (YAML).
func Source() []byte { return bytes.Clone(source) }

// Doc is the parsed document, ready to serve and render.
type Doc struct {
	root *yaml.Node
	json []byte
	etag string
}

// Load parses the embedded document; issuer, when set, becomes its only
// server (OpenAPI 3.1 §4.8.5), so generated clients call this deployment.
func Load(issuer string) (*Doc, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(source, &n); err != nil {
		return nil, fmt.Errorf("apidoc: openapi.yaml: %w", err)
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("apidoc: openapi.yaml is not a mapping")
	}
	root := n.Content[0]
	if issuer != "" {
		setServers(root, issuer)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, root); err != nil {
		return nil, fmt.Errorf("apidoc: openapi.yaml: %w", err)
	}
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("apidoc: openapi.yaml does not convert to valid JSON")
	}
	sum := sha256.Sum256(buf.Bytes())
	return &Doc{root: root, json: buf.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// MustLoad is Load for the embedded document, which the tests prove
// valid: it panics on an error.
func MustLoad(issuer string) *Doc {
	d, err := Load(issuer)
	if err != nil {
		panic(err)
	}
	return d
}

// JSON returns the document as JSON.
func (d *Doc) JSON() []byte { return bytes.Clone(d.json) }

// ServeHTTP serves GET /openapi.json: cacheable for five minutes, with an
// ETag (RFC 9110 §8.8.3) so clients revalidate cheaply; a matching
// If-None-Match answers 304.
func (d *Doc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", d.etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(d.json)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(d.json)
	}
}

// etagMatch is the weak comparison of If-None-Match (RFC 9110 §13.1.2).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// setServers replaces (or adds, after info) the servers list.
func setServers(root *yaml.Node, issuer string) {
	url := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: issuer}
	server := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "url"}, url,
	}}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{server}}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "servers" {
			root.Content[i+1] = list
			return
		}
	}
	at := len(root.Content)
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "info" {
			at = i + 2
		}
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "servers"}
	root.Content = append(root.Content[:at], append([]*yaml.Node{key, list}, root.Content[at:]...)...)
}

// writeJSON writes a YAML node as JSON, keeping the order of keys and
// expanding aliases.
func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i, kv := range pairs(n) {
			if i > 0 {
				buf.WriteByte(',')
			}
			if kv[0].Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: unsupported key", kv[0].Line)
			}
			kb, _ := json.Marshal(kv[0].Value)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSON(buf, kv[1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}
