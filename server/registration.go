package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/ratelimit"
)

// Registration is the dynamic client registration surface (RFC 7591,
// RFC 7592) the server mounts when oauth.registration.mode is not off.
type Registration interface {
	Register(w http.ResponseWriter, r *http.Request)
	Manage(w http.ResponseWriter, r *http.Request, clientID string)
}

// ProtectedResource serves the RFC 9728 metadata of Latchkey's own API.
type ProtectedResource interface {
	ServeProtectedResource(w http.ResponseWriter, r *http.Request)
}

// mountRegistration adds POST /oauth/register and GET/PUT/DELETE
// /oauth/register/{client_id}; without a Registration they do not exist
// (404, like any unknown endpoint).
func mountRegistration(e *gin.Engine, d Deps) {
	if d.ProtectedResource != nil {
		e.GET("/.well-known/oauth-protected-resource", gin.WrapF(d.ProtectedResource.ServeProtectedResource))
	}
	if d.Registration == nil {
		return
	}
	reg := d.Registration
	e.POST("/oauth/register", gin.WrapF(reg.Register))
	manage := func(c *gin.Context) { reg.Manage(c.Writer, c.Request, c.Param("client_id")) }
	e.GET("/oauth/register/:client_id", manage)
	e.PUT("/oauth/register/:client_id", manage)
	e.DELETE("/oauth/register/:client_id", manage)
}

// newRegistrar wires dynamic registration from oauth.registration, or
// returns nil when it is off. Registrations are limited per client IP
// (oauth.registration.per_minute, N back-to-back, N per minute) on the
// shared limiter; an unavailable limiter follows rate_limits.fail_open.
func newRegistrar(cfg *config.Config, p *oauth.Provider, db oauth.RegistrationStore, lim ratelimit.Limiter, log *slog.Logger, refused func(string)) (*oauth.Registrar, error) {
	rc := cfg.OAuth.Registration
	if rc.Mode == config.RegistrationOff {
		return nil, nil
	}
	var digests [][sha256.Size]byte
	for _, d := range rc.InitialAccessTokens {
		b, err := hex.DecodeString(strings.TrimPrefix(d, "sha256:"))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("oauth.registration.initial_access_tokens: %q is not a sha256 digest", d)
		}
		digests = append(digests, [sha256.Size]byte(b))
	}
	tier := ratelimit.Tier{Name: "registration", Burst: rc.PerMinute, BurstWindow: time.Minute}
	failOpen := cfg.RateLimits.FailOpen
	limit := func(r *http.Request) (time.Duration, error) {
		ctx := r.Context()
		d, err := lim.Allow(ctx, "register-ip:"+clientip.Bucket(r), tier)
		if err != nil {
			log.WarnContext(ctx, "rate limiter unavailable (client registration)", "error", err, "fail_open", failOpen)
			if failOpen {
				return 0, nil
			}
			return 0, err
		}
		if !d.Allowed {
			refused("client_registration")
			return d.RetryAfter, nil
		}
		return 0, nil
	}
	return p.NewRegistrar(oauth.RegistrationConfig{
		Mode: rc.Mode, InitialAccessTokens: digests, Scopes: rc.Scopes, GrantTypes: rc.GrantTypes, Limit: limit,
	}, db)
}

// resourceURIs lists the configured resource indicators (oauth.resources).
func resourceURIs(cfg *config.Config) []string {
	out := make([]string, 0, len(cfg.OAuth.Resources))
	for _, r := range cfg.OAuth.Resources {
		out = append(out, r.URI)
	}
	return out
}
