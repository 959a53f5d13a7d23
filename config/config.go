// Package config loads Latchkey's configuration: defaults, then an optional
// YAML file (strictly decoded), then LATCHKEY_* environment overrides, then
// validation. Secrets are resolved separately by (*Config).EnsureSecrets.
package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"github.com/latchkey/latchkey/scopeexpr"
	"github.com/latchkey/latchkey/secret"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable that overrides a setting.
const EnvPrefix = "LATCHKEY_"

// EnvConfigPath names the environment variable holding the config file path
// (read by main, not by Load). It is the only LATCHKEY_ variable that is not a setting.
const EnvConfigPath = "LATCHKEY_CONFIG"

// EnvTestPrefix is reserved for the project's own test suites
// (LATCHKEY_TEST_POSTGRES_DSN, …); such variables are not settings and are
// ignored here, so a machine that runs the tests can also run the server.
const EnvTestPrefix = "LATCHKEY_TEST_"

// Config is the whole configuration. Field names are part of the API.
type Config struct {
	Server     ServerConfig    `yaml:"server"`
	DataDir    string          `yaml:"data_dir"`
	Storage    StorageConfig   `yaml:"storage"`
	Redis      RedisConfig     `yaml:"redis"`
	Keys       KeysConfig      `yaml:"keys"`
	OAuth      OAuthConfig     `yaml:"oauth"`
	Secrets    SecretsConfig   `yaml:"secrets"`
	Log        LogConfig       `yaml:"log"`
	RateLimits RateLimitConfig `yaml:"rate_limits"`
	Metrics    MetricsConfig   `yaml:"metrics"`
	Janitor    JanitorConfig   `yaml:"janitor"`
	Web        WebConfig       `yaml:"web"`
	SMTP       SMTPConfig      `yaml:"smtp"`
}

// WebConfig holds the browser pages' session settings.
type WebConfig struct {
	// SessionAbsoluteLifetime bounds a sign-in from the moment of login,
	// however active the session stays (pages and the cookie-authenticated
	// JSON API alike); the cookie's own 12-hour lifetime, renewed whenever
	// it is re-issued, is the sliding bound beside it.
	SessionAbsoluteLifetime Duration `yaml:"session_absolute_lifetime"`
}

// JanitorConfig schedules the purge of expired codes, tokens, protocol
// sessions, old API-key audit entries and old usage counts.
type JanitorConfig struct {
	Interval       Duration `yaml:"interval"`
	BatchSize      int      `yaml:"batch_size"`
	AuditRetention Duration `yaml:"audit_retention"`
	// UsageHourlyRetention and UsageDailyRetention keep the usage
	// aggregate's hour and day slots (0 = forever); the charts show the
	// last 7 days by the hour and the last 90 by the day.
	UsageHourlyRetention Duration `yaml:"usage_hourly_retention"`
	UsageDailyRetention  Duration `yaml:"usage_daily_retention"`
}

// ServerConfig holds the HTTP listener settings.
type ServerConfig struct {
	Addr            string   `yaml:"addr"`
	Issuer          string   `yaml:"issuer"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	// TrustedProxies are the IP addresses and CIDR ranges of the reverse
	// proxies whose X-Forwarded-For is believed. Empty = none: the TCP
	// peer is the client IP.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// PasswordMemoryMiB is the memory budget of argon2id password checks
	// in flight (login, HTTP Basic, sign-up, password changes): as many
	// run at once as fit (12 MiB each with today's parameters; at least
	// one). See secret.PasswordGate.
	PasswordMemoryMiB int `yaml:"password_memory_mib"`
	// MemoryLimitMiB is the Go runtime's soft memory limit
	// (runtime/debug.SetMemoryLimit), set by `latchkey serve`: the garbage
	// collector works harder as the Go heap nears it instead of letting it
	// double. 0 = no limit. The GOMEMLIMIT environment variable, when set,
	// takes precedence.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Memory defaults (BENCHMARKS.md "Memory budget").
const (
	// DefaultPasswordMemoryMiB runs two argon2id checks at once (its one
	// home is package secret).
	DefaultPasswordMemoryMiB = secret.DefaultPasswordMemoryMiB
	// DefaultMemoryLimitMiB leaves ~24 MiB of headroom above the Go
	// heap's working set at the default password budget (~16 MiB live +
	// 2 × 12 MiB of argon2id), so the limit bounds garbage, not live
	// memory: 40 + DefaultPasswordMemoryMiB (the pooled argon2id memory
	// counts as Go heap). Mixed soak (BENCHMARKS.md "Issue 16, closing"):
	// RSS 107–117 MiB, peak 128, Go heap flat at 46–51 MiB. Before the
	// argon2id memory was pooled, 56 MiB cost +40 % CPU per unit of work.
	DefaultMemoryLimitMiB = 40 + DefaultPasswordMemoryMiB
)

// StorageConfig selects the database. An empty DSN means a SQLite file in DataDir.
type StorageConfig struct {
	DSN          string `yaml:"dsn"`
	MaxOpenConns int    `yaml:"max_open_conns"`
	// SQLitePageCacheMiB is the budget of the SQLite readers' page caches
	// together (0 = storage/sqlite.DefaultPageCacheMiB).
	SQLitePageCacheMiB int  `yaml:"sqlite_page_cache_mib"`
	AutoMigrate        bool `yaml:"auto_migrate"`
	// CacheTTL is how long API-key verifications, users and clients are
	// cached in process; 0 = automatic (see ResolvedCacheTTL).
	CacheTTL Duration `yaml:"cache_ttl"`
}

// Automatic storage.cache_ttl values (README "Several instances").
const (
	// SQLiteCacheTTL is a safety net too: every invalidating write is
	// appended to the invalidation log in its transaction, and every
	// process serving the file polls it (storage/sqlite.Poller, 0.2 s), so
	// another process's change — the CLI suspending a user — arrives
	// within the poll interval; caches are bypassed while polling fails.
	SQLiteCacheTTL = 30 * time.Second
	// PostgresCacheTTL is a safety net only: on PostgreSQL every
	// invalidating write is pushed to all instances (LISTEN/NOTIFY), and
	// caches are bypassed while that channel is down. The TTL bounds only
	// changes made behind Latchkey's back (rows edited by hand).
	PostgresCacheTTL = 30 * time.Second
	// maxCacheTTL keeps a typo from caching for days.
	maxCacheTTL = time.Hour
)

// RedisConfig configures the optional Redis; an empty URL means none.
type RedisConfig struct {
	URL       string `yaml:"url"`
	KeyPrefix string `yaml:"key_prefix"`
}

// KeysConfig configures API key formatting and storage.
type KeysConfig struct {
	Prefix      string `yaml:"prefix"`
	Recoverable bool   `yaml:"recoverable"`
}

// Scope is a registered OAuth scope with the description shown on the consent page.
type Scope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// OAuthConfig holds token lifespans and the registered scopes.
type OAuthConfig struct {
	AccessTokenLifespan   Duration `yaml:"access_token_lifespan"`
	RefreshTokenLifespan  Duration `yaml:"refresh_token_lifespan"`
	AuthorizeCodeLifespan Duration `yaml:"authorize_code_lifespan"`
	IDTokenLifespan       Duration `yaml:"id_token_lifespan"`
	// RefreshFamilyLifetime bounds how long a grant's refresh tokens can be
	// rotated after the person approved it; 0 = no bound.
	RefreshFamilyLifetime Duration `yaml:"refresh_family_lifetime"`
	JWTAccessTokens       bool     `yaml:"jwt_access_tokens"`
	// DeviceCodeLifespan is how long a device authorization request (RFC
	// 8628) waits for the person to enter its user code and decide.
	DeviceCodeLifespan Duration `yaml:"device_code_lifespan"`
	// DevicePollInterval is the least time between a device's token
	// requests (RFC 8628 §3.2 interval): whole seconds, at least 1 s.
	DevicePollInterval Duration `yaml:"device_poll_interval"`
	Scopes             []Scope  `yaml:"scopes"`
	// Registration configures dynamic client registration (RFC 7591/7592).
	Registration RegistrationConfig `yaml:"registration"`
	// Resources are the resource servers Latchkey issues tokens for (RFC
	// 8707 resource indicators), besides its own API.
	Resources []Resource `yaml:"resources"`
	// ResourceDocumentation is the resource_documentation of the own
	// API's protected resource metadata (RFC 9728); "" = issuer + /docs/api.
	ResourceDocumentation string `yaml:"resource_documentation"`
	// BackchannelPrivateNetworks says whether back-channel logout tokens
	// may be posted to loopback, private and link-local addresses: "deny",
	// "allow", or "auto" (allow only when the issuer's host is loopback,
	// as under `make run`). See BackchannelAllowsPrivate.
	BackchannelPrivateNetworks string `yaml:"backchannel_private_networks"`
	// DPoP configures sender-constrained tokens (RFC 9449).
	DPoP DPoPConfig `yaml:"dpop"`
}

// DPoPConfig configures DPoP proofs (RFC 9449).
type DPoPConfig struct {
	// RequireNonce makes every DPoP proof carry a server-provided nonce
	// (RFC 9449 §8 at the token endpoint, §9 at the API).
	RequireNonce bool `yaml:"require_nonce"`
	// NoncePeriod is how often nonces rotate (a nonce is accepted for one
	// to two periods).
	NoncePeriod Duration `yaml:"nonce_period"`
	// ProofMaxAge is how old a proof's iat may be.
	ProofMaxAge Duration `yaml:"proof_max_age"`
}

// RegistrationConfig configures dynamic client registration
// (oauth.registration).
type RegistrationConfig struct {
	// Mode is "off", "initial_access_token" or "open".
	Mode string `yaml:"mode"`
	// InitialAccessTokens are "sha256:<64 hex digits>" digests of the
	// initial access tokens accepted in initial_access_token mode
	// (`latchkey registration token` mints one).
	InitialAccessTokens []string `yaml:"initial_access_tokens"`
	// Scopes a registered client may ask for (registered scopes).
	Scopes []string `yaml:"scopes"`
	// GrantTypes a registered client may use.
	GrantTypes []string `yaml:"grant_types"`
	// PerMinute bounds registration requests per client IP per minute.
	PerMinute int `yaml:"per_minute"`
}

// Resource is a resource server Latchkey issues tokens for (RFC 8707).
type Resource struct {
	// URI is the resource indicator: an absolute URI, no fragment.
	URI string `yaml:"uri"`
	// Scopes the resource understands (documentation for operators and
	// clients; every registered scope may still be requested).
	Scopes []string `yaml:"scopes"`
}

// Registration modes (oauth.registration.mode).
const (
	RegistrationOff                = "off"
	RegistrationInitialAccessToken = "initial_access_token"
	RegistrationOpen               = "open"
)

// BackchannelAllowsPrivate reports whether back-channel logout deliveries
// may reach non-public addresses (oauth.backchannel_private_networks):
// "allow", or "auto" with an issuer on localhost, 127.0.0.0/8 or [::1].
func (c *Config) BackchannelAllowsPrivate() bool {
	switch c.OAuth.BackchannelPrivateNetworks {
	case "allow":
		return true
	case "deny":
		return false
	}
	return c.LocalIssuer()
}

// LocalIssuer reports whether server.issuer is on localhost, 127.0.0.0/8
// or [::1]: a development server (`make run`), which no one else reaches
// under its issuer. What is safe for development only (private-network
// back-channel deliveries, the /dev/mail outbox) depends on it.
func (c *Config) LocalIssuer() bool {
	u, err := url.Parse(c.Server.Issuer)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// SecretsConfig holds configured secrets (base64 or raw). Empty values are
// generated on first run and kept in DataDir/secrets.json; see EnsureSecrets.
type SecretsConfig struct {
	HMACKey        string `yaml:"hmac_key"`
	Pepper         string `yaml:"pepper"`
	PepperVersion  int    `yaml:"pepper_version"`
	CookieHashKey  string `yaml:"cookie_hash_key"`
	CookieBlockKey string `yaml:"cookie_block_key"`
	CSRFKey        string `yaml:"csrf_key"`
	SigningKeyFile string `yaml:"signing_key_file"`
}

// LogConfig configures log/slog output.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Tier is a rate-limit tier. RequestsPerHour 0 means unlimited. Tiers
// rank in the order they are listed, lowest first: a key created by a
// credential other than its owner signed in has no higher tier than the
// credential (keys.Authority).
type Tier struct {
	Name            string `yaml:"name"`
	RequestsPerHour int    `yaml:"requests_per_hour"`
	Burst           int    `yaml:"burst"`
}

// RateLimitConfig holds the API tiers and the login/token endpoint limits.
type RateLimitConfig struct {
	DefaultTier    string `yaml:"default_tier"`
	Tiers          []Tier `yaml:"tiers"`
	LoginPerMinute int    `yaml:"login_per_minute"`
	TokenPerMinute int    `yaml:"token_per_minute"`
	FailOpen       bool   `yaml:"fail_open"`
}

// MetricsConfig configures GET /metrics (Prometheus). Printing or logging
// it redacts the token.
type MetricsConfig struct {
	Enabled bool `yaml:"enabled"`
	// Token, when set, must be presented as "Authorization: Bearer <token>".
	Token string `yaml:"token"`
	// PprofAddr, when set, serves Go's runtime profiles (net/http/pprof,
	// /debug/pprof/) on a second listener at this loopback address — never
	// on server.addr. Off by default; loadgen -cpuprofile sets it.
	PprofAddr string `yaml:"pprof_addr"`
}

// metricsTokenMin is the shortest metrics.token accepted.
const metricsTokenMin = 16

// Duration is a time.Duration written as a Go duration string ("1h", "10m").
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d like time.Duration but without zero trailing units ("1h", "10m").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"30s\", \"10m\", \"1h\")", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || d.UnmarshalText([]byte(n.Value)) != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: invalid duration %q (use e.g. \"30s\", \"10m\", \"1h\")", n.Line, n.Value)}}
	}
	return nil
}

// Defaults returns the built-in configuration (the values documented in config.yaml).
func Defaults() *Config {
	return &Config{
		Server: ServerConfig{
			Addr:            "127.0.0.1:8080",
			Issuer:          "http://localhost:8080",
			ShutdownTimeout: Duration(15 * time.Second),
			MaxBodyBytes:    65536,
			TrustedProxies:  []string{},

			PasswordMemoryMiB: DefaultPasswordMemoryMiB,
			MemoryLimitMiB:    DefaultMemoryLimitMiB,
		},
		DataDir: "./data",
		Storage: StorageConfig{MaxOpenConns: 16, SQLitePageCacheMiB: 32, AutoMigrate: true},
		Redis:   RedisConfig{KeyPrefix: "latchkey:"},
		Keys:    KeysConfig{Prefix: "lk"},
		OAuth: OAuthConfig{
			AccessTokenLifespan:        Duration(time.Hour),
			RefreshTokenLifespan:       Duration(720 * time.Hour),
			AuthorizeCodeLifespan:      Duration(10 * time.Minute),
			IDTokenLifespan:            Duration(time.Hour),
			RefreshFamilyLifetime:      Duration(2160 * time.Hour),
			DeviceCodeLifespan:         Duration(10 * time.Minute),
			DevicePollInterval:         Duration(5 * time.Second),
			BackchannelPrivateNetworks: "auto",
			Registration: RegistrationConfig{
				Mode:       RegistrationOff,
				Scopes:     []string{"openid", "profile", "email", "offline_access"},
				GrantTypes: []string{"authorization_code", "refresh_token"},
				PerMinute:  10,
			},
			DPoP: DPoPConfig{NoncePeriod: Duration(5 * time.Minute), ProofMaxAge: Duration(time.Minute)},
			Scopes: []Scope{
				{"openid", "Confirm your identity"},
				{"profile", "Read your name and username"},
				{"email", "Read your email address"},
				{"offline_access", "Stay signed in to the app when you are not using it"},
				{"users:read", "Read your account details"},
				{"keys:read", "List and view your API keys (never the secret parts)"},
				{"keys:write", "Create, rotate and revoke your API keys"},
				{"keys:verify", "Verify API keys presented to your service"},
				{"org:read", "See your organizations, their members and tenants"},
				{"org:admin", "Administer the organizations where you are an owner or admin"},
			},
		},
		Secrets: SecretsConfig{PepperVersion: 1},
		Log:     LogConfig{Level: "info", Format: "json"},
		Metrics: MetricsConfig{Enabled: true},
		RateLimits: RateLimitConfig{
			DefaultTier: "free",
			Tiers: []Tier{
				{Name: "free", RequestsPerHour: 1000, Burst: 50},
				{Name: "pro", RequestsPerHour: 10000, Burst: 200},
				{Name: "enterprise", RequestsPerHour: 0, Burst: 1000},
			},
			LoginPerMinute: 10,
			TokenPerMinute: 600,
		},
		Janitor: JanitorConfig{Interval: Duration(time.Minute), BatchSize: 500, AuditRetention: Duration(90 * 24 * time.Hour),
			UsageHourlyRetention: Duration(8 * 24 * time.Hour), UsageDailyRetention: Duration(91 * 24 * time.Hour)},
		Web:  WebConfig{SessionAbsoluteLifetime: Duration(24 * time.Hour)},
		SMTP: defaultSMTP(),
	}
}

// Load builds the configuration: defaults, then the YAML file at path (skipped
// when path is "" or the file does not exist; unknown keys are rejected), then
// LATCHKEY_* overrides from env (os.Environ() form), then Validate.
func Load(path string, env []string) (*Config, error) {
	c := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := decodeYAML(data, c); err != nil {
				return nil, fmt.Errorf("config file %s: %w", path, err)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("config file: %w", err)
		}
	}
	if err := applyEnv(c, env); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)

// decodeYAML strictly decodes data into c, rewording unknown-key errors as
// "line N: unknown setting "section.key"".
func decodeYAML(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	sections := map[string]string{}
	walkTypes(reflect.TypeOf(Config{}), "", sections)
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		if sm := unknownFieldRE.FindStringSubmatch(m); sm != nil {
			if sec, ok := sections[sm[3]]; ok {
				msgs[i] = fmt.Sprintf("line %s: unknown setting %q", sm[1], sec+sm[2])
			}
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// walkTypes maps each struct type name to its YAML path prefix ("server.").
func walkTypes(t reflect.Type, prefix string, out map[string]string) {
	out[t.String()] = prefix
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		ft := f.Type
		sfx := "."
		if ft.Kind() == reflect.Slice {
			ft, sfx = ft.Elem(), "[]."
		}
		if ft.Kind() == reflect.Struct && name != "" && name != "-" {
			walkTypes(ft, prefix+name+sfx, out)
		}
	}
}

// SQLiteDefault reports whether storage is SQLite (DSN empty or not PostgreSQL).
func (c *Config) SQLiteDefault() bool { return !c.IsPostgres() }

// IsPostgres reports whether the DSN is a postgres:// or postgresql:// URL.
func (c *Config) IsPostgres() bool {
	d := strings.ToLower(c.Storage.DSN)
	return strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://")
}

// ResolvedCacheTTL returns storage.cache_ttl, or when it is 0 the
// automatic value: PostgresCacheTTL on PostgreSQL, SQLiteCacheTTL on SQLite.
func (c *Config) ResolvedCacheTTL() time.Duration {
	switch {
	case c.Storage.CacheTTL > 0:
		return c.Storage.CacheTTL.Duration()
	case c.IsPostgres():
		return PostgresCacheTTL
	default:
		return SQLiteCacheTTL
	}
}

// ResolvedDSN returns the DSN, or DataDir/latchkey.db when it is empty.
func (c *Config) ResolvedDSN() string {
	if c.Storage.DSN == "" {
		return filepath.Join(c.DataDir, "latchkey.db")
	}
	return c.Storage.DSN
}

// ScopeDescription returns the consent-page description of a registered scope.
func (c *Config) ScopeDescription(name string) (string, bool) {
	for _, s := range c.OAuth.Scopes {
		if s.Name == name {
			return s.Description, true
		}
	}
	return "", false
}

// SecureCookies reports whether the issuer is https (cookies get the Secure flag).
func (c *Config) SecureCookies() bool {
	return strings.HasPrefix(strings.ToLower(c.Server.Issuer), "https://")
}

var (
	keyPrefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,15}$`)
	tierNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	// RFC 6749 section 3.3 scope-token.
	scopeRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
)

// Validate checks every setting and normalises a few (one trailing slash is
// stripped from the issuer, log level and format are lower-cased). The error
// lists every problem, each naming its setting. Secret values are never included.
func (c *Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", setting, fmt.Sprintf(format, args...)))
	}

	c.Server.Issuer = strings.TrimSuffix(c.Server.Issuer, "/")
	if u, err := url.Parse(c.Server.Issuer); err != nil || !u.IsAbs() || u.Host == "" ||
		(u.Scheme != "http" && u.Scheme != "https") {
		bad("server.issuer", "must be an absolute http:// or https:// URL, got %q", c.Server.Issuer)
	} else if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Server.Issuer, "#") {
		bad("server.issuer", "must not have a query or fragment")
	} else if u.User != nil {
		bad("server.issuer", "must not contain user information")
	} else if strings.HasSuffix(u.Path, "/") {
		bad("server.issuer", "must not end with a slash")
	}
	if c.Server.Addr == "" {
		bad("server.addr", "must not be empty")
	} else if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		bad("server.addr", "must be host:port (e.g. \"127.0.0.1:8080\" or \":8080\"), got %q", c.Server.Addr)
	}
	if c.Server.ShutdownTimeout <= 0 {
		bad("server.shutdown_timeout", "must be greater than zero")
	}
	if c.Server.PasswordMemoryMiB < 1 || c.Server.PasswordMemoryMiB > 1<<16 {
		bad("server.password_memory_mib", "must be between 1 and 65536 (MiB), got %d", c.Server.PasswordMemoryMiB)
	}
	if c.Server.MemoryLimitMiB < 0 || c.Server.MemoryLimitMiB > 1<<22 {
		bad("server.memory_limit_mib", "must be 0 (no limit) or a size in MiB up to 4194304, got %d", c.Server.MemoryLimitMiB)
	}
	if c.Server.MaxBodyBytes <= 0 {
		bad("server.max_body_bytes", "must be greater than zero")
	}
	for i, p := range c.Server.TrustedProxies {
		switch ones, ok := proxyMaskBits(p); {
		case !ok:
			bad(fmt.Sprintf("server.trusted_proxies[%d]", i), "must be an IP address or CIDR range (e.g. \"10.0.0.0/8\"), got %q", p)
		case ones == 0:
			bad(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q trusts every address, so any client could choose its IP; list your proxies", p)
		}
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.Storage.MaxOpenConns < 1 {
		bad("storage.max_open_conns", "must be at least 1")
	}
	if c.Storage.SQLitePageCacheMiB < 0 || c.Storage.SQLitePageCacheMiB > 1<<16 {
		bad("storage.sqlite_page_cache_mib", "must be between 0 (the default, 32) and 65536, got %d", c.Storage.SQLitePageCacheMiB)
	}
	if c.Storage.CacheTTL < 0 || c.Storage.CacheTTL.Duration() > maxCacheTTL {
		bad("storage.cache_ttl", "must be between 0 (automatic) and %s, got %s", Duration(maxCacheTTL), c.Storage.CacheTTL)
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
	}
	if c.Redis.KeyPrefix == "" || len(c.Redis.KeyPrefix) > 64 || strings.ContainsAny(c.Redis.KeyPrefix, " \t\r\n") {
		bad("redis.key_prefix", "must be 1 to 64 characters without spaces")
	}
	if !keyPrefixRE.MatchString(c.Keys.Prefix) {
		bad("keys.prefix", "must match ^[a-z][a-z0-9_]{0,15}$, got %q", c.Keys.Prefix)
	}
	for _, l := range []struct {
		name string
		d    Duration
	}{
		{"oauth.access_token_lifespan", c.OAuth.AccessTokenLifespan},
		{"oauth.refresh_token_lifespan", c.OAuth.RefreshTokenLifespan},
		{"oauth.authorize_code_lifespan", c.OAuth.AuthorizeCodeLifespan},
		{"oauth.id_token_lifespan", c.OAuth.IDTokenLifespan},
		{"oauth.device_code_lifespan", c.OAuth.DeviceCodeLifespan},
	} {
		if l.d <= 0 {
			bad(l.name, "must be greater than zero")
		}
	}
	switch c.OAuth.BackchannelPrivateNetworks {
	case "auto", "allow", "deny":
	default:
		bad("oauth.backchannel_private_networks", "must be \"auto\", \"allow\" or \"deny\", got %q", c.OAuth.BackchannelPrivateNetworks)
	}
	if d := c.OAuth.DevicePollInterval.Duration(); d < time.Second || d%time.Second != 0 || d > time.Minute {
		bad("oauth.device_poll_interval", "must be whole seconds from 1s to 60s, got %s", d)
	}
	if c.OAuth.DPoP.NoncePeriod < Duration(10*time.Second) {
		bad("oauth.dpop.nonce_period", "must be at least 10s")
	}
	if c.OAuth.DPoP.ProofMaxAge < Duration(5*time.Second) || c.OAuth.DPoP.ProofMaxAge > Duration(10*time.Minute) {
		bad("oauth.dpop.proof_max_age", "must be between 5s and 10m")
	}
	if c.OAuth.RefreshFamilyLifetime < 0 {
		bad("oauth.refresh_family_lifetime", "must be 0 (no bound) or greater")
	}
	seen := map[string]bool{}
	for i, s := range c.OAuth.Scopes {
		if !scopeRE.MatchString(s.Name) || !scopeexpr.ValidName(s.Name) {
			// The second check keeps every scope writable in a verify
			// permission expression (no parentheses, not AND or OR).
			bad(fmt.Sprintf("oauth.scopes[%d].name", i), "%q is not a valid scope name (RFC 6749 §3.3 characters, no parentheses, not AND or OR)", s.Name)
		} else if seen[s.Name] {
			bad(fmt.Sprintf("oauth.scopes[%d].name", i), "duplicate scope %q", s.Name)
		}
		seen[s.Name] = true
	}
	c.OAuth.validateRegistration(seen, bad)
	if c.Secrets.PepperVersion < 1 {
		bad("secrets.pepper_version", "must be at least 1")
	}
	for _, s := range c.secretSpecs(nil) {
		if s.value != "" {
			if err := s.check(decodeSecret(s.value)); err != nil {
				bad("secrets."+s.name, "%v", err)
			}
		}
	}
	c.Log.Level, c.Log.Format = strings.ToLower(c.Log.Level), strings.ToLower(c.Log.Format)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if t := c.Metrics.Token; t != "" && (len(t) < metricsTokenMin || strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0) {
		bad("metrics.token", "must be at least %d characters without spaces or control characters (e.g. `openssl rand -hex 32`)", metricsTokenMin)
	}
	if a := c.Metrics.PprofAddr; a != "" && !loopbackAddr(a) {
		bad("metrics.pprof_addr", "must be a loopback host:port (127.0.0.1, ::1 or localhost): profiles are never served publicly")
	}
	errs = append(errs, c.RateLimits.validate()...)
	if c.Janitor.Interval.Duration() < time.Second {
		bad("janitor.interval", "must be at least 1s")
	}
	if c.Janitor.BatchSize < 1 || c.Janitor.BatchSize > 10000 {
		bad("janitor.batch_size", "must be between 1 and 10000")
	}
	if c.Janitor.AuditRetention < 0 {
		bad("janitor.audit_retention", "must be 0 (keep forever) or more")
	}
	if c.Janitor.UsageHourlyRetention < 0 {
		bad("janitor.usage_hourly_retention", "must be 0 (keep forever) or more")
	}
	if c.Janitor.UsageDailyRetention < 0 {
		bad("janitor.usage_daily_retention", "must be 0 (keep forever) or more")
	}
	if l := c.Web.SessionAbsoluteLifetime.Duration(); l < time.Minute || l > maxSessionLifetime {
		bad("web.session_absolute_lifetime", "must be between 1m and %s, got %s", Duration(maxSessionLifetime), c.Web.SessionAbsoluteLifetime)
	}
	c.SMTP.validate(bad)
	return errors.Join(errs...)
}

func (r *RateLimitConfig) validate() []error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: rate_limits.%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if len(r.Tiers) == 0 {
		bad("tiers", "at least one tier is required")
	}
	seen := map[string]bool{}
	for i, t := range r.Tiers {
		switch {
		case !tierNameRE.MatchString(t.Name):
			bad(fmt.Sprintf("tiers[%d].name", i), "must match %s, got %q", tierNameRE, t.Name)
		case seen[t.Name]:
			bad(fmt.Sprintf("tiers[%d].name", i), "duplicate tier %q", t.Name)
		}
		seen[t.Name] = true
		if t.RequestsPerHour < 0 {
			bad(fmt.Sprintf("tiers[%d].requests_per_hour", i), "must be 0 (unlimited) or more")
		}
		if t.Burst < 1 {
			bad(fmt.Sprintf("tiers[%d].burst", i), "must be at least 1")
		}
	}
	if !seen[r.DefaultTier] {
		bad("default_tier", "%q is not one of the configured tiers", r.DefaultTier)
	}
	if r.LoginPerMinute < 1 {
		bad("login_per_minute", "must be at least 1")
	}
	if r.TokenPerMinute < 1 {
		bad("token_per_minute", "must be at least 1")
	}
	return errs
}

// maxSessionLifetime is the longest web.session_absolute_lifetime (30 days).
const maxSessionLifetime = 30 * 24 * time.Hour

// proxyMaskBits parses a server.trusted_proxies entry — an IP address or
// a CIDR range, as gin's SetTrustedProxies accepts them — and returns the
// prefix length (an address is a full-length prefix).
func proxyMaskBits(p string) (int, bool) {
	if strings.Contains(p, "/") {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return 0, false
		}
		ones, _ := n.Mask.Size()
		return ones, true
	}
	ip := net.ParseIP(p)
	if ip == nil {
		return 0, false
	}
	return len(ip) * 8, true
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// iatDigestRE is the form of an initial access token digest.
var iatDigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// validateRegistration checks oauth.registration, oauth.resources and
// oauth.resource_documentation; scopes are the registered scope names.
func (o *OAuthConfig) validateRegistration(scopes map[string]bool, bad func(setting, format string, args ...any)) {
	r := &o.Registration
	switch r.Mode {
	case RegistrationOff, RegistrationOpen:
	case RegistrationInitialAccessToken:
		if len(r.InitialAccessTokens) == 0 {
			bad("oauth.registration.initial_access_tokens", "mode initial_access_token needs at least one digest (mint one with `latchkey registration token`)")
		}
	default:
		bad("oauth.registration.mode", "must be \"off\", \"initial_access_token\" or \"open\", got %q", r.Mode)
	}
	for i, d := range r.InitialAccessTokens {
		if !iatDigestRE.MatchString(d) {
			bad(fmt.Sprintf("oauth.registration.initial_access_tokens[%d]", i), "must be \"sha256:\" and 64 lower-case hex digits (`latchkey registration token` prints one)")
		}
	}
	for i, s := range r.Scopes {
		if r.Mode != RegistrationOff && !scopes[s] {
			bad(fmt.Sprintf("oauth.registration.scopes[%d]", i), "%q is not a registered scope (oauth.scopes)", s)
		}
	}
	if r.Mode != RegistrationOff && len(r.Scopes) == 0 {
		bad("oauth.registration.scopes", "must name at least one scope when registration is on")
	}
	for i, g := range r.GrantTypes {
		switch g {
		case "authorization_code", "refresh_token", "client_credentials":
		default:
			bad(fmt.Sprintf("oauth.registration.grant_types[%d]", i), "must be authorization_code, refresh_token or client_credentials, got %q", g)
		}
	}
	if r.Mode != RegistrationOff && len(r.GrantTypes) == 0 {
		bad("oauth.registration.grant_types", "must name at least one grant type when registration is on")
	}
	if r.PerMinute < 1 {
		bad("oauth.registration.per_minute", "must be at least 1")
	}
	seen := map[string]bool{}
	for i, res := range o.Resources {
		u, err := url.Parse(res.URI)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			bad(fmt.Sprintf("oauth.resources[%d].uri", i), "must be an absolute URI with a host (RFC 8707 §2), got %q", res.URI)
		case u.Fragment != "" || strings.Contains(res.URI, "#"):
			bad(fmt.Sprintf("oauth.resources[%d].uri", i), "must not contain a fragment (RFC 8707 §2)")
		case seen[res.URI]:
			bad(fmt.Sprintf("oauth.resources[%d].uri", i), "duplicate resource %q", res.URI)
		}
		seen[res.URI] = true
		for j, s := range res.Scopes {
			if !scopes[s] {
				bad(fmt.Sprintf("oauth.resources[%d].scopes[%d]", i, j), "%q is not a registered scope (oauth.scopes)", s)
			}
		}
	}
	if d := o.ResourceDocumentation; d != "" {
		if u, err := url.Parse(d); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("oauth.resource_documentation", "must be an http(s) URL, got %q", d)
		}
	}
}

// loopbackAddr reports whether addr is host:port with a loopback host.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
