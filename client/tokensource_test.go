package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const testKey = "lk_live_AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKK_abc123"

// fakeGenerate serves POST /tokens/generate, issuing tokens tok-1, tok-2, …
// that live for lifetime; it counts exchanges.
func fakeGenerate(t *testing.T, lifetime time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/tokens/generate":
			if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+testKey {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":"invalid_api_key","message":"The API key is not valid."}`)
				return
			}
			i := n.Add(1)
			exp := time.Now().Add(lifetime)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"token": fmt.Sprintf("tok-%d", i), "token_type": "Bearer",
				"expires_in": int64(lifetime / time.Second), "expires_at": exp, "scope": "users:read",
			})
		case r.URL.Path == "/user":
			if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, `{"username":"dana"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestKeyTokenSourceRenewal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lifetime  time.Duration
		early     []Option
		calls     int
		sleep     time.Duration // before the last call
		exchanges int32
	}{
		{name: "reused within lifetime", lifetime: time.Hour, calls: 5, exchanges: 1},
		{name: "renewed after short expiry", lifetime: 300 * time.Millisecond, early: []Option{WithEarlyExpiry(0)}, calls: 3, sleep: 400 * time.Millisecond, exchanges: 2},
		{name: "not renewed before short expiry", lifetime: 2 * time.Second, early: []Option{WithEarlyExpiry(0)}, calls: 3, exchanges: 1},
		{name: "early expiry beyond lifetime renews every time", lifetime: 30 * time.Second, early: []Option{WithEarlyExpiry(time.Minute)}, calls: 3, exchanges: 3},
		{name: "default early expiry is one minute", lifetime: 59 * time.Second, calls: 2, exchanges: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := fakeGenerate(t, tc.lifetime)
			ts := KeyTokenSource(context.Background(), srv.URL+"/", testKey, tc.early...)
			var last *oauth2.Token
			for i := 0; i < tc.calls; i++ {
				if i == tc.calls-1 && tc.sleep > 0 {
					time.Sleep(tc.sleep)
				}
				tok, err := ts.Token()
				if err != nil {
					t.Fatal(err)
				}
				last = tok
			}
			if got := n.Load(); got != tc.exchanges {
				t.Fatalf("exchanges = %d, want %d", got, tc.exchanges)
			}
			if last.TokenType != "Bearer" || last.AccessToken != fmt.Sprintf("tok-%d", tc.exchanges) || last.Expiry.IsZero() {
				t.Fatalf("token %+v", last)
			}
			if last.Extra("scope") != "users:read" {
				t.Fatalf("scope extra %v", last.Extra("scope"))
			}
		})
	}
}

func TestKeyTokenSourceWithOAuth2Client(t *testing.T) {
	srv, n := fakeGenerate(t, time.Hour)
	ctx := context.Background()
	hc := oauth2.NewClient(ctx, KeyTokenSource(ctx, srv.URL, testKey, WithHTTPClient(srv.Client())))
	for i := 0; i < 3; i++ {
		resp, err := hc.Get(srv.URL + "/user")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("exchanges = %d", n.Load())
	}
}

func TestKeyTokenSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		wantStatus int // 0: not an *Error
		wantCode   string
		wantMsg    string
	}{
		{name: "invalid key", status: 401, body: `{"error":"invalid_api_key","message":"The API key is not valid."}`, wantStatus: 401, wantCode: "invalid_api_key", wantMsg: "The API key is not valid."},
		{name: "expired key", status: 401, body: `{"error":"token_expired","message":"This API key has expired."}`, wantStatus: 401, wantCode: "token_expired", wantMsg: "This API key has expired."},
		{name: "rate limited", status: 429, body: `{"error":"rate_limited","message":"Slow down."}`, wantStatus: 429, wantCode: "rate_limited", wantMsg: "Slow down."},
		{name: "server error, not JSON", status: 502, body: `<html>bad gateway</html>`, wantStatus: 502},
		{name: "oauth-style error", status: 400, body: `{"error":"invalid_request","error_description":"nope"}`, wantStatus: 400, wantCode: "invalid_request", wantMsg: "nope"},
		{name: "200 not JSON", status: 200, body: `not json`},
		{name: "200 without token", status: 200, body: `{"token_type":"Bearer","expires_in":3600}`},
		{name: "200 wrong token type", status: 200, body: `{"token":"x","token_type":"MAC","expires_in":3600}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := KeyTokenSource(context.Background(), srv.URL, testKey).Token()
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("error leaks the key: %v", err)
			}
			var e *Error
			if got := errors.As(err, &e); got != (tc.wantStatus != 0) {
				t.Fatalf("errors.As = %v for %v", got, err)
			}
			if e != nil && (e.Status != tc.wantStatus || e.Code != tc.wantCode || e.Message != tc.wantMsg) {
				t.Fatalf("got %+v", e)
			}
		})
	}

	t.Run("transport failure", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		_, err := KeyTokenSource(context.Background(), u, testKey).Token()
		var e *Error
		if err == nil || errors.As(err, &e) || errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("through oauth2.NewClient", func(t *testing.T) {
		srv, _ := fakeGenerate(t, time.Hour)
		hc := oauth2.NewClient(context.Background(), KeyTokenSource(context.Background(), srv.URL, "lk_live_wrong"))
		_, err := hc.Get(srv.URL + "/user")
		var e *Error
		if !errors.As(err, &e) || e.Status != 401 || e.Code != "invalid_api_key" {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("expires_in fallback", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"token":"x","expires_in":3600}`)
		}))
		defer srv.Close()
		tok, err := KeyTokenSource(context.Background(), srv.URL, testKey).Token()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(tok.Expiry); d < 59*time.Minute || d > time.Hour || tok.TokenType != "Bearer" {
			t.Fatalf("token %+v", tok)
		}
	})
}
