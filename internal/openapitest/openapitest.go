// Package openapitest checks HTTP responses against Latchkey's OpenAPI
// document (apidoc) with a maintained validator, kin-openapi's
// openapi3filter, which validates OpenAPI 3.1 documents with JSON Schema
// 2020-12. The test harnesses wrap the server with Handler (servertest)
// or check each recorded response with Check (the api package's tests),
// so every JSON response a test receives must be documented: its route,
// its status, its required headers and its body's schema. It is test
// support only.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/latchkey/latchkey/apidoc"
)

// Validator checks responses against one loaded document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// New loads and validates the embedded document, once per test binary.
func New() (*Validator, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

// MustNew is New that fails t on an error.
func MustNew(t testing.TB) *Validator {
	t.Helper()
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func load() (*Validator, error) {
	d, err := apidoc.Load("")
	if err != nil {
		return nil, err
	}
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(d.JSON())
	if err != nil {
		return nil, fmt.Errorf("openapitest: loading the document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: the document is not valid OpenAPI: %w", err)
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	return &Validator{doc: doc, router: r}, nil
}

// pageJSONPrefixes are page routes (package web, not the API) that speak
// JSON to the site's own script: the passkey ceremonies of
// static/passkey.js. Like the HTML pages they are not in the document.
var pageJSONPrefixes = []string{"/login/passkey/", "/account/two-factor/passkeys/"}

func pageJSON(path string) bool {
	for _, p := range pageJSONPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Doc returns the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// ErrUndocumented is wrapped by Check's errors for a response the
// document does not describe at all (route or status).
var ErrUndocumented = errors.New("not in the OpenAPI document")

// Check validates one response to req. A route the document does not have
// may answer JSON only to refuse a request (4xx: gin's 404 for no route
// and 405 for no method, the pages' CSRF and input refusals to non-browser
// clients), and then with the API's error body; any other JSON answer of
// an undocumented route fails (the route-coverage test in server/ proves
// every JSON route is documented). A non-JSON answer of an undocumented
// route (an HTML page, a static file, /metrics) is not the API's and passes. On a documented
// route the status must be documented and the response must match it:
// required headers present and well-formed, the media type and the body's
// schema.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if req.Method == http.MethodHead {
		return nil
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if !isJSON(header) || pageJSON(req.URL.Path) {
			return nil
		}
		if status >= 400 && status < 500 {
			return v.checkSchema("Error", body)
		}
		return fmt.Errorf("%s %s answered %d with JSON: route %w", req.Method, req.URL.Path, status, ErrUndocumented)
	}
	op := route.Operation
	if op.Responses.Status(status) == nil && op.Responses.Default() == nil {
		return fmt.Errorf("%s %s (%s) answered status %d: %w", req.Method, req.URL.Path, route.Path, status, ErrUndocumented)
	}
	resp := op.Responses.Status(status)
	if resp == nil {
		resp = op.Responses.Default()
	}
	if len(resp.Value.Content) == 0 && len(bytes.TrimSpace(body)) > 0 && isJSON(header) {
		return fmt.Errorf("%s %s (%s) answered %d with a JSON body the document does not describe", req.Method, req.URL.Path, route.Path, status)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s) answered %d: %w", req.Method, req.URL.Path, route.Path, status, err)
	}
	return nil
}

// checkSchema validates body against components/schemas/name.
func (v *Validator) checkSchema(name string, body []byte) error {
	s := v.doc.Components.Schemas[name]
	if s == nil || s.Value == nil {
		return fmt.Errorf("openapitest: no schema %q", name)
	}
	var val any
	if err := json.Unmarshal(body, &val); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := s.Value.VisitJSON(val, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("body does not match %s: %w", name, err)
	}
	return nil
}

func isJSON(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// Handler wraps next so that every response it writes is checked before
// the client sees it; a mismatch fails t (t.Errorf, so the test goes on
// and reports every mismatch). The response is buffered: nothing the
// server answers streams.
func (v *Validator) Handler(t testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The handler consumes the body; the request the validator reads
		// needs only its method, URL and headers.
		probe := r.Clone(r.Context())
		probe.Body = http.NoBody
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if err := v.Check(probe, rec.Code, rec.Header(), body); err != nil {
			t.Errorf("openapi: %v\nbody: %s", err, truncate(body))
		}
		h := w.Header()
		for k, vs := range rec.Header() {
			h[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = io.Copy(w, bytes.NewReader(body))
	})
}

// Recorded checks a response recorded with httptest and fails t on a
// mismatch.
func (v *Validator) Recorded(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	probe := req.Clone(req.Context())
	probe.Body = http.NoBody
	if err := v.Check(probe, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Errorf("openapi: %v\nbody: %s", err, truncate(rec.Body.Bytes()))
	}
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// Client returns an HTTP client whose every response is checked (a
// mismatch fails t), for tests that reach a server over the network (the
// process-level tests in e2e/).
func (v *Validator) Client(t testing.TB) *http.Client {
	return &http.Client{Transport: &checkingTransport{v: v, t: t, next: http.DefaultTransport}}
}

// checkingTransport checks each response before handing it on.
type checkingTransport struct {
	v    *Validator
	t    testing.TB
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (c *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	probe := req.Clone(req.Context())
	probe.Body = http.NoBody
	if err := c.v.Check(probe, resp.StatusCode, resp.Header, body); err != nil {
		c.t.Errorf("openapi: %v\nbody: %s", err, truncate(body))
	}
	return resp, nil
}
