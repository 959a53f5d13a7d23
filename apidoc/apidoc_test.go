package apidoc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestJSONIsTheYAML: the served JSON is the YAML source, anchors
// expanded, plus the issuer as the one server.
func TestJSONIsTheYAML(t *testing.T) {
	d, err := Load("https://auth.example")
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML map[string]any
	if err := json.Unmarshal(d.JSON(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(Source(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	servers := fromJSON["servers"]
	delete(fromJSON, "servers")
	want, _ := json.Marshal(fromYAML) // normalise YAML's types the way JSON has them
	var norm map[string]any
	_ = json.Unmarshal(want, &norm)
	if !reflect.DeepEqual(fromJSON, norm) {
		t.Error("the JSON document differs from openapi.yaml")
	}
	if !reflect.DeepEqual(servers, []any{map[string]any{"url": "https://auth.example"}}) {
		t.Errorf("servers = %v", servers)
	}
	if fromJSON["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", fromJSON["openapi"])
	}
}

// TestServeHTTP: cacheable JSON with an ETag; If-None-Match answers 304.
func TestServeHTTP(t *testing.T) {
	d := MustLoad("")
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || etag == "" ||
		rec.Header().Get("Cache-Control") != "public, max-age=300" || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	for _, tc := range []struct {
		inm  string
		want int
	}{{etag, 304}, {"W/" + etag, 304}, {`"other", ` + etag, 304}, {`"other"`, 200}, {"*", 304}} {
		r := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
		r.Header.Set("If-None-Match", tc.inm)
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("If-None-Match %s: %d, want %d", tc.inm, rec.Code, tc.want)
		}
	}
}

// TestReference: every operation lands under a declared tag with an id,
// a summary and at least one response; $refs and anchors are resolved
// into field tables.
func TestReference(t *testing.T) {
	ref := MustLoad("").Reference()
	declared := map[string]bool{}
	ops := map[string]Operation{}
	for _, tag := range ref.Tags {
		declared[tag.Name] = tag.Description != ""
		for _, op := range tag.Operations {
			if op.ID == "" || op.Summary == "" || len(op.Responses) == 0 || len(op.Security) == 0 {
				t.Errorf("%s %s: id %q, summary %q, %d responses, security %v", op.Method, op.Path, op.ID, op.Summary, len(op.Responses), op.Security)
			}
			ops[op.ID] = op
		}
		if !declared[tag.Name] {
			t.Errorf("tag %q is used but not declared with a description", tag.Name)
		}
	}
	create := ops["createKey"]
	if create.Request == nil || !hasField(create.Request.Fields, "handle", true) || create.Request.Example == "" {
		t.Fatalf("createKey request = %+v", create.Request)
	}
	var created *Response
	for i, r := range create.Responses {
		if r.Status == "201" {
			created = &create.Responses[i]
		}
	}
	if created == nil || created.Body == nil || !hasField(created.Body.Fields, "key", true) || !hasField(created.Body.Fields, "parent.key_id", false) {
		t.Fatalf("createKey 201 = %+v", created)
	}
	if len(created.Headers) != 6 || created.Headers[0].Name != "X-RateLimit-Limit" || created.Headers[0].Type != "integer" ||
		created.Headers[5].Name != "Cache-Control" || !created.Headers[5].Required {
		t.Errorf("createKey 201 headers = %+v", created.Headers)
	}
	if get := ops["getKey"]; len(get.Parameters) != 1 || get.Parameters[0].Name != "handle (path)" || !get.Parameters[0].Required {
		t.Errorf("getKey parameters = %+v", get.Parameters)
	}
	if len(ref.Security) < 5 {
		t.Errorf("security schemes = %+v", ref.Security)
	}
}

func hasField(fs []Field, name string, required bool) bool {
	for _, f := range fs {
		if f.Name == name {
			return f.Required == required
		}
	}
	return false
}

// TestReferenceSharesErrorBodies: error responses name their body's
// schema, which the page shows once, instead of repeating its fields.
func TestReferenceSharesErrorBodies(t *testing.T) {
	ref := MustLoad("").Reference()
	names := map[string][]Field{}
	for _, s := range ref.Shared {
		names[s.Name] = s.Fields
	}
	if !hasField(names["Error"], "error", true) || !hasField(names["OAuthError"], "error", true) {
		t.Fatalf("shared = %+v", ref.Shared)
	}
	named := 0
	for _, tag := range ref.Tags {
		for _, op := range tag.Operations {
			for _, r := range op.Responses {
				switch {
				case r.Body == nil || r.Body.Schema == "":
				case len(r.Body.Fields) > 0 || r.Status < "400" || names[r.Body.Schema] == nil:
					t.Errorf("%s %s %s: body %+v", op.Method, op.Path, r.Status, r.Body)
				default:
					named++
				}
			}
		}
	}
	if named < 50 {
		t.Errorf("only %d error responses name a shared body", named)
	}
}
