package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, yml string, env ...string) *Config {
	t.Helper()
	path := ""
	if yml != "" {
		path = writeFile(t, yml)
	}
	c, err := Load(path, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "missing.yaml"), writeFile(t, ""), writeFile(t, "# only a comment\n")} {
		c, err := Load(path, []string{"HOME=/root", "LATCHKEY_CONFIG=whatever", "LATCHKEY_TEST_POSTGRES_DSN=postgres://x"})
		if err != nil {
			t.Fatalf("Load(%q): %v", path, err)
		}
		if !reflect.DeepEqual(c, Defaults()) {
			t.Errorf("Load(%q) = %+v, want defaults", path, c)
		}
	}
	c := Defaults()
	if c.Server.Addr != "127.0.0.1:8080" || c.Server.Issuer != "http://localhost:8080" || c.DataDir != "./data" ||
		c.Keys.Prefix != "lk" || c.OAuth.AccessTokenLifespan.Duration() != time.Hour || c.RateLimits.Tiers[2].Burst != 1000 {
		t.Errorf("unexpected defaults %+v", c)
	}
	if !c.SQLiteDefault() || c.IsPostgres() || c.ResolvedDSN() != filepath.Join("data", "latchkey.db") || c.SecureCookies() {
		t.Error("helpers wrong for defaults")
	}
	if d, ok := c.ScopeDescription("keys:verify"); !ok || d != "Verify API keys presented to your service" {
		t.Errorf("ScopeDescription = %q, %v", d, ok)
	}
	if _, ok := c.ScopeDescription("nope"); ok {
		t.Error("unknown scope found")
	}
}

// The repository's config.yaml must equal the defaults and mention every env var.
func TestRepoConfigYAML(t *testing.T) {
	c, err := Load("../config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Defaults()) {
		t.Errorf("config.yaml differs from Defaults():\n%+v\n%+v", c, Defaults())
	}
	raw, _ := os.ReadFile("../config.yaml")
	settings := map[string]reflect.Value{}
	envSettings(reflect.ValueOf(Defaults()).Elem(), "", settings)
	for name := range settings {
		if !bytes.Contains(raw, []byte(name)) {
			t.Errorf("config.yaml does not document %s", name)
		}
	}
}

func TestYAMLValues(t *testing.T) {
	c := mustLoad(t, `
server:
  addr: ":9090"
  issuer: "https://auth.example.com/"
  shutdown_timeout: 1m30s
data_dir: /var/lib/latchkey
storage:
  dsn: "postgresql://u:p@db/latchkey"
  auto_migrate: false
keys: {prefix: flr_pat, recoverable: true}
oauth:
  refresh_token_lifespan: 24h
  scopes: [{name: read, description: Read things}]
log: {level: DEBUG, format: text}
rate_limits:
  default_tier: gold
  tiers: [{name: gold, requests_per_hour: 5, burst: 2}]
`)
	if c.Server.Addr != ":9090" || c.Server.Issuer != "https://auth.example.com" ||
		c.Server.ShutdownTimeout.Duration() != 90*time.Second || c.Server.MaxBodyBytes != 65536 {
		t.Errorf("server = %+v", c.Server)
	}
	if !c.IsPostgres() || c.SQLiteDefault() || c.ResolvedDSN() != "postgresql://u:p@db/latchkey" || c.Storage.AutoMigrate {
		t.Errorf("storage = %+v", c.Storage)
	}
	if !c.SecureCookies() || c.Keys.Prefix != "flr_pat" || !c.Keys.Recoverable || c.Log.Level != "debug" {
		t.Errorf("config = %+v", c)
	}
	if c.OAuth.RefreshTokenLifespan.Duration() != 24*time.Hour || c.OAuth.AccessTokenLifespan.Duration() != time.Hour {
		t.Errorf("oauth = %+v", c.OAuth)
	}
	if len(c.OAuth.Scopes) != 1 || len(c.RateLimits.Tiers) != 1 || c.RateLimits.Tiers[0].Burst != 2 {
		t.Errorf("lists not replaced: %+v %+v", c.OAuth.Scopes, c.RateLimits.Tiers)
	}
}

func TestYAMLErrors(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"server:\n  addr: x:1\n  adr: y\n", `line 3: unknown setting "server.adr"`},
		{"datadir: x\n", `line 1: unknown setting "datadir"`},
		{"oauth:\n  scopes:\n    - name: a\n      desc: b\n", `line 4: unknown setting "oauth.scopes[].desc"`},
		{"oauth:\n  access_token_lifespan: soon\n", `line 2: invalid duration "soon"`},
		{"server:\n  max_body_bytes: lots\n", "line 2"},
		{"server: [\n", "yaml"},
	} {
		_, err := Load(writeFile(t, tc.yml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("yaml %q: error %v, want %q", tc.yml, err, tc.want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	for _, tc := range []struct {
		env   string
		check func(*Config) bool
	}{
		{"LATCHKEY_SERVER_ADDR=0.0.0.0:80", func(c *Config) bool { return c.Server.Addr == "0.0.0.0:80" }},
		{"LATCHKEY_DATA_DIR=/tmp/x", func(c *Config) bool { return c.DataDir == "/tmp/x" }},
		{"LATCHKEY_REDIS_URL=redis://r:6379/0", func(c *Config) bool { return c.Redis.URL == "redis://r:6379/0" }},
		{"LATCHKEY_SERVER_MAX_BODY_BYTES=1024", func(c *Config) bool { return c.Server.MaxBodyBytes == 1024 }},
		{"LATCHKEY_STORAGE_MAX_OPEN_CONNS= 4 ", func(c *Config) bool { return c.Storage.MaxOpenConns == 4 }},
		{"LATCHKEY_OAUTH_JWT_ACCESS_TOKENS=true", func(c *Config) bool { return c.OAuth.JWTAccessTokens }},
		{"LATCHKEY_STORAGE_AUTO_MIGRATE=0", func(c *Config) bool { return !c.Storage.AutoMigrate }},
		{"LATCHKEY_METRICS_ENABLED=false", func(c *Config) bool { return !c.Metrics.Enabled }},
		{"LATCHKEY_METRICS_TOKEN=0123456789abcdef0", func(c *Config) bool { return c.Metrics.Token == "0123456789abcdef0" }},
		{"LATCHKEY_STORAGE_CACHE_TTL=1m", func(c *Config) bool { return c.Storage.CacheTTL.Duration() == time.Minute }},
		{"LATCHKEY_OAUTH_ACCESS_TOKEN_LIFESPAN=5m", func(c *Config) bool { return c.OAuth.AccessTokenLifespan.Duration() == 5*time.Minute }},
		{"LATCHKEY_OAUTH_REFRESH_FAMILY_LIFETIME=0s", func(c *Config) bool { return c.OAuth.RefreshFamilyLifetime == 0 }},
		{`LATCHKEY_OAUTH_SCOPES=[{"name":"a","description":"A"}]`, func(c *Config) bool {
			return reflect.DeepEqual(c.OAuth.Scopes, []Scope{{"a", "A"}})
		}},
		{"LATCHKEY_SERVER_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.10,2001:db8::/32", func(c *Config) bool {
			return reflect.DeepEqual(c.Server.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.10", "2001:db8::/32"})
		}},
		{"LATCHKEY_WEB_SESSION_ABSOLUTE_LIFETIME=8h", func(c *Config) bool { return c.Web.SessionAbsoluteLifetime.Duration() == 8*time.Hour }},
		{`LATCHKEY_RATE_LIMITS_TIERS=[{"name":"free","requests_per_hour":7,"burst":3}]`, func(c *Config) bool {
			return reflect.DeepEqual(c.RateLimits.Tiers, []Tier{{"free", 7, 3}})
		}},
	} {
		// The file sets a different value; env must win.
		c := mustLoad(t, "server:\n  addr: 10.0.0.1:1\ndata_dir: /file\n", tc.env)
		if !tc.check(c) {
			t.Errorf("%s not applied: %+v", tc.env, c)
		}
	}
}

func TestEnvStringSlice(t *testing.T) {
	var s struct {
		Inner struct {
			Hosts []string `yaml:"allowed_hosts"`
		} `yaml:"inner"`
	}
	if err := applyEnv(&s, []string{"LATCHKEY_INNER_ALLOWED_HOSTS=a.example, b.example,,"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Inner.Hosts, []string{"a.example", "b.example"}) {
		t.Errorf("got %q", s.Inner.Hosts)
	}
	if err := applyEnv(&s, []string{"LATCHKEY_INNER_ALLOWED_HOSTS="}); err != nil || len(s.Inner.Hosts) != 0 {
		t.Errorf("empty list: %v %q", err, s.Inner.Hosts)
	}
}

func TestEnvErrors(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"LATCHKEY_SERVER_ADR=x:1", "unknown environment variable LATCHKEY_SERVER_ADR (did you mean LATCHKEY_SERVER_ADDR?)"},
		{"LATCHKEY_NONSENSE_THING=1", "unknown environment variable LATCHKEY_NONSENSE_THING"},
		{"LATCHKEY_SERVER=1", "unknown environment variable LATCHKEY_SERVER"},
		{"LATCHKEY_SERVER_MAX_BODY_BYTES=64k", "LATCHKEY_SERVER_MAX_BODY_BYTES: must be an integer"},
		{"LATCHKEY_STORAGE_MAX_OPEN_CONNS=99999999999999999999", "LATCHKEY_STORAGE_MAX_OPEN_CONNS: must be an integer"},
		{"LATCHKEY_STORAGE_AUTO_MIGRATE=maybe", "LATCHKEY_STORAGE_AUTO_MIGRATE: must be true or false"},
		{"LATCHKEY_OAUTH_ID_TOKEN_LIFESPAN=60", "LATCHKEY_OAUTH_ID_TOKEN_LIFESPAN: invalid duration"},
		{"LATCHKEY_OAUTH_SCOPES=openid,email", "LATCHKEY_OAUTH_SCOPES: must be a JSON list"},
		{`LATCHKEY_RATE_LIMITS_TIERS=[{"nam":"x"}]`, "LATCHKEY_RATE_LIMITS_TIERS: must be a JSON list"},
		{"LATCHKEY_OAUTH_ACCESS_TOKEN_LIFESPAN=0s", "oauth.access_token_lifespan: must be greater than zero"},
	} {
		_, err := Load("", []string{"PATH=/bin", tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.env, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string // "" = valid
	}{
		{func(c *Config) { c.Server.Issuer = "https://a.example/auth/" }, ""},
		{func(c *Config) { c.Server.Issuer = "http://127.0.0.1:8080" }, ""},
		{func(c *Config) { c.Server.Issuer = "https://a.example//" }, "server.issuer: must not end with a slash"},
		{func(c *Config) { c.Server.Issuer = "a.example" }, "server.issuer: must be an absolute"},
		{func(c *Config) { c.Server.Issuer = "/relative" }, "server.issuer: must be an absolute"},
		{func(c *Config) { c.Server.Issuer = "ftp://a.example" }, "server.issuer: must be an absolute"},
		{func(c *Config) { c.Server.Issuer = "https://a.example?x=1" }, "server.issuer: must not have a query"},
		{func(c *Config) { c.Server.Issuer = "https://a.example#f" }, "server.issuer: must not have a query"},
		{func(c *Config) { c.Server.Issuer = "https://u:p@a.example" }, "server.issuer: must not contain user"},
		{func(c *Config) { c.Server.Addr = "" }, "server.addr: must not be empty"},
		{func(c *Config) { c.Server.Addr = "8080" }, "server.addr: must be host:port"},
		{func(c *Config) { c.Keys.Prefix = "LK" }, "keys.prefix"},
		{func(c *Config) { c.Keys.Prefix = "a_very_long_prefix_x" }, "keys.prefix"},
		{func(c *Config) { c.OAuth.RefreshTokenLifespan = -1 }, "oauth.refresh_token_lifespan"},
		{func(c *Config) { c.OAuth.RefreshFamilyLifetime = -1 }, "oauth.refresh_family_lifetime"},
		{func(c *Config) { c.OAuth.BackchannelPrivateNetworks = "yes" }, "oauth.backchannel_private_networks"},
		{func(c *Config) { c.OAuth.Scopes = append(c.OAuth.Scopes, Scope{Name: "bad scope"}) }, "oauth.scopes[10].name"},
		{func(c *Config) { c.OAuth.Scopes = append(c.OAuth.Scopes, Scope{Name: "email"}) }, "duplicate scope"},
		{func(c *Config) { c.RateLimits.DefaultTier = "gold" }, "rate_limits.default_tier"},
		{func(c *Config) { c.RateLimits.Tiers = nil }, "rate_limits.tiers: at least one"},
		{func(c *Config) { c.RateLimits.Tiers[1].Name = "free" }, "duplicate tier"},
		{func(c *Config) { c.RateLimits.Tiers[0].Burst = 0 }, "rate_limits.tiers[0].burst"},
		{func(c *Config) { c.RateLimits.Tiers[0].RequestsPerHour = -1 }, "rate_limits.tiers[0].requests_per_hour"},
		{func(c *Config) { c.RateLimits.LoginPerMinute = 0 }, "rate_limits.login_per_minute"},
		{func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{func(c *Config) { c.Redis.URL = "http://r" }, "redis.url"},
		{func(c *Config) { c.Redis.KeyPrefix = "" }, "redis.key_prefix"},
		{func(c *Config) { c.Redis.KeyPrefix = "a b" }, "redis.key_prefix"},
		{func(c *Config) { c.Storage.MaxOpenConns = 0 }, "storage.max_open_conns"},
		{func(c *Config) { c.Storage.CacheTTL = -1 }, "storage.cache_ttl"},
		{func(c *Config) { c.Storage.CacheTTL = Duration(2 * time.Hour) }, "storage.cache_ttl: must be between 0 (automatic) and 1h"},
		{func(c *Config) { c.Storage.CacheTTL = Duration(time.Hour) }, ""},
		{func(c *Config) { c.Secrets.PepperVersion = 0 }, "secrets.pepper_version"},
		{func(c *Config) { c.Secrets.Pepper = "c2hvcnQ=" }, "secrets.pepper: must be at least 32 bytes"},
		{func(c *Config) { c.Secrets.CookieBlockKey = strings.Repeat("k", 20) }, "secrets.cookie_block_key"},
		{func(c *Config) { c.Janitor.Interval = Duration(time.Millisecond) }, "janitor.interval"},
		{func(c *Config) { c.Janitor.BatchSize = 0 }, "janitor.batch_size"},
		{func(c *Config) { c.Janitor.BatchSize = 10001 }, "janitor.batch_size"},
		{func(c *Config) { c.Janitor.AuditRetention = -1 }, "janitor.audit_retention"},
		{func(c *Config) { c.Janitor.UsageHourlyRetention = -1 }, "janitor.usage_hourly_retention"},
		{func(c *Config) { c.Janitor.UsageDailyRetention = -1 }, "janitor.usage_daily_retention"},
		{func(c *Config) { c.Metrics.Token = "0123456789abcdef" }, ""},
		{func(c *Config) {
			c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.10", "::1", "2001:db8::/32"}
		}, ""},
		{func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/33"} }, "server.trusted_proxies[0]: must be an IP address or CIDR range"},
		{func(c *Config) { c.Server.TrustedProxies = []string{"192.0.2.10", "proxy.example"} }, "server.trusted_proxies[1]: must be an IP address"},
		{func(c *Config) { c.Server.TrustedProxies = []string{"0.0.0.0/0"} }, "server.trusted_proxies[0]: \"0.0.0.0/0\" trusts every address"},
		{func(c *Config) { c.Server.TrustedProxies = []string{"::/0"} }, "trusts every address"},
		{func(c *Config) { c.Web.SessionAbsoluteLifetime = Duration(time.Hour) }, ""},
		{func(c *Config) { c.Web.SessionAbsoluteLifetime = 0 }, "web.session_absolute_lifetime: must be between 1m and 720h"},
		{func(c *Config) { c.Web.SessionAbsoluteLifetime = Duration(31 * 24 * time.Hour) }, "web.session_absolute_lifetime"},
		{func(c *Config) { c.Metrics.Token = "short" }, "metrics.token: must be at least 16"},
		{func(c *Config) { c.Metrics.Token = "0123456789 abcdef" }, "metrics.token"},
		{func(c *Config) { c.Metrics.PprofAddr = "127.0.0.1:6060" }, ""},
		{func(c *Config) { c.Metrics.PprofAddr = "[::1]:0" }, ""},
		{func(c *Config) { c.Metrics.PprofAddr = "localhost:6060" }, ""},
		{func(c *Config) { c.Metrics.PprofAddr = ":6060" }, "metrics.pprof_addr: must be a loopback"},
		{func(c *Config) { c.Metrics.PprofAddr = "0.0.0.0:6060" }, "metrics.pprof_addr"},
		{func(c *Config) { c.Metrics.PprofAddr = "192.0.2.1:6060" }, "metrics.pprof_addr"},
		{func(c *Config) { c.Metrics.PprofAddr = "127.0.0.1" }, "metrics.pprof_addr"},
	} {
		c := Defaults()
		tc.mod(c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	c := Defaults()
	c.Server.Issuer = "https://a.example/"
	if err := c.Validate(); err != nil || c.Server.Issuer != "https://a.example" || !c.SecureCookies() {
		t.Errorf("trailing slash not stripped: %q %v", c.Server.Issuer, err)
	}
}

func TestDurationYAML(t *testing.T) {
	out, err := yaml.Marshal(map[string]Duration{"a": Duration(time.Hour), "b": Duration(10 * time.Minute), "c": Duration(90 * time.Second)})
	if err != nil || string(out) != "a: 1h\nb: 10m\nc: 1m30s\n" {
		t.Errorf("marshal = %q, %v", out, err)
	}
	var d Duration
	if err := yaml.Unmarshal([]byte(`720h`), &d); err != nil || d.Duration() != 720*time.Hour {
		t.Errorf("unmarshal = %v, %v", d, err)
	}
}

func testConfig(t *testing.T) *Config {
	c := Defaults()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	return c
}

func TestSecretsGeneratedAndPersisted(t *testing.T) {
	c := testConfig(t)
	s1, err := c.EnsureSecrets()
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int{"hmac": len(s1.HMACKey), "pepper": len(s1.Pepper), "hash": len(s1.CookieHashKey),
		"block": len(s1.CookieBlockKey), "csrf": len(s1.CSRFKey)} {
		if n < 32 {
			t.Errorf("%s: %d bytes", name, n)
		}
	}
	if s1.PepperVersion != 1 || s1.SigningKeyID == "" {
		t.Errorf("secrets = %v", s1)
	}
	if _, ok := s1.SigningKey.(*rsa.PrivateKey); !ok {
		t.Errorf("signing key %T", s1.SigningKey)
	}
	for _, f := range []string{SecretsFileName, SigningKeyFileName} {
		fi, err := os.Stat(filepath.Join(c.DataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	if fi, _ := os.Stat(c.DataDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", fi.Mode())
	}
	// Widen the file mode: the next run must tighten it and return the same secrets.
	secretsPath := filepath.Join(c.DataDir, SecretsFileName)
	if err := os.Chmod(secretsPath, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := c.EnsureSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s1, s2) {
		t.Error("second run returned different secrets")
	}
	if fi, _ := os.Stat(secretsPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.json mode not tightened: %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(c.DataDir); len(entries) != 2 {
		t.Errorf("unexpected files in data dir: %v", entries)
	}
}

// TestDataDirTightenedTo0700: an existing data directory that group or
// others may read (it holds secrets.json, the signing key and the SQLite
// database) is narrowed to 0700 at start, and the old mode is reported so
// the server can log it; a private or new one is left alone.
func TestDataDirTightenedTo0700(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create bool
		mode   os.FileMode
		was    os.FileMode
	}{
		{"world readable", true, 0o755, 0o755},
		{"group writable", true, 0o770, 0o770},
		{"already private", true, 0o700, 0},
		{"created", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			if tc.create {
				if err := os.Mkdir(c.DataDir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(c.DataDir, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			s, err := c.EnsureSecrets()
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(c.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o700 {
				t.Errorf("data_dir mode %v, want 0700", got)
			}
			if s.DataDirWasMode != tc.was {
				t.Errorf("DataDirWasMode = %v, want %v", s.DataDirWasMode, tc.was)
			}
		})
	}
}

func TestSecretsConfiguredWin(t *testing.T) {
	pepper := bytes.Repeat([]byte{7}, 32)
	hmacRaw := "a raw passphrase, which is not base64 at all!"
	c := testConfig(t)
	c.Secrets.Pepper = base64.RawURLEncoding.EncodeToString(pepper)
	c.Secrets.HMACKey = hmacRaw
	c.Secrets.PepperVersion = 3
	s, err := c.EnsureSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Pepper, pepper) || string(s.HMACKey) != hmacRaw || s.PepperVersion != 3 {
		t.Errorf("configured secrets not used")
	}
	raw, err := os.ReadFile(filepath.Join(c.DataDir, SecretsFileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"pepper"`)) || bytes.Contains(raw, []byte(`"hmac_key"`)) || !bytes.Contains(raw, []byte(`"csrf_key"`)) {
		t.Errorf("configured secrets written to disk or generated ones missing: %s", raw)
	}
	// Configured via env, through Load.
	env := []string{"LATCHKEY_DATA_DIR=" + c.DataDir, "LATCHKEY_SECRETS_CSRF_KEY=" + base64.StdEncoding.EncodeToString(pepper)}
	c2, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c2.EnsureSecrets()
	if err != nil || !bytes.Equal(s2.CSRFKey, pepper) {
		t.Errorf("env CSRF key not used: %v", err)
	}
}

func TestSecretsTooShort(t *testing.T) {
	c := testConfig(t)
	c.Secrets.Pepper = "short-pepper-value"
	_, err := c.EnsureSecrets()
	if err == nil || !strings.Contains(err.Error(), "secrets.pepper: must be at least 32 bytes") || strings.Contains(err.Error(), "short-pepper") {
		t.Errorf("err = %v", err)
	}
	_, err = Load("", []string{"LATCHKEY_SECRETS_HMAC_KEY=tooshort"})
	if err == nil || !strings.Contains(err.Error(), "secrets.hmac_key") || strings.Contains(err.Error(), "tooshort") {
		t.Errorf("Load err = %v", err)
	}
	// A corrupt stored secret is an error, never silently regenerated.
	c = testConfig(t)
	_ = os.MkdirAll(c.DataDir, 0o700)
	_ = os.WriteFile(filepath.Join(c.DataDir, SecretsFileName), []byte(`{"pepper":"c2hvcnQ="}`), 0o600)
	if _, err := c.EnsureSecrets(); err == nil || !strings.Contains(err.Error(), "pepper") {
		t.Errorf("stored short pepper: %v", err)
	}
}

func TestSecretsConcurrentFirstRun(t *testing.T) {
	c := testConfig(t)
	var wg sync.WaitGroup
	results := make([]*Secrets, 4)
	for i := range results {
		wg.Go(func() {
			s, err := c.EnsureSecrets()
			if err != nil {
				t.Error(err)
			}
			results[i] = s
		})
	}
	wg.Wait()
	for _, s := range results[1:] {
		if s == nil || !bytes.Equal(s.Pepper, results[0].Pepper) || s.SigningKeyID != results[0].SigningKeyID {
			t.Fatal("concurrent first runs disagree")
		}
	}
}

func TestSigningKeyFile(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pk8 := func(k any) []byte { der, _ := x509.MarshalPKCS8PrivateKey(k); return der }
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	for _, tc := range []struct {
		name, typ string
		der       []byte
		wantErr   string
	}{
		{"pkcs1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), ""},
		{"pkcs8 rsa", "PRIVATE KEY", pk8(rsaKey), ""},
		{"pkcs8 ec", "PRIVATE KEY", pk8(ecKey), ""},
		{"sec1 ec", "EC PRIVATE KEY", ecDER, ""},
		{"p384", "PRIVATE KEY", pk8(p384), "P-256"},
		{"cert", "CERTIFICATE", []byte{1}, "no unencrypted private key"},
	} {
		c := testConfig(t)
		c.Secrets.SigningKeyFile = filepath.Join(t.TempDir(), "key.pem")
		pemData := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
			pem.EncodeToMemory(&pem.Block{Type: tc.typ, Bytes: tc.der})...)
		_ = os.WriteFile(c.Secrets.SigningKeyFile, pemData, 0o600)
		s1, err := c.EnsureSecrets()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "secrets.signing_key_file") {
				t.Errorf("%s: err = %v", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s2, _ := c.EnsureSecrets()
		if s1.SigningKeyID != s2.SigningKeyID || len(s1.SigningKeyID) != 16 {
			t.Errorf("%s: kid %q vs %q", tc.name, s1.SigningKeyID, s2.SigningKeyID)
		}
		if _, err := os.Stat(filepath.Join(c.DataDir, SigningKeyFileName)); !os.IsNotExist(err) {
			t.Errorf("%s: generated a key despite signing_key_file", tc.name)
		}
	}
}

func TestSecretsRedacted(t *testing.T) {
	c := testConfig(t)
	secret := strings.Repeat("s3cr3t!", 6)
	c.Secrets.Pepper = secret
	s, err := c.EnsureSecrets()
	if err != nil {
		t.Fatal(err)
	}
	c.Metrics.Token = secret + "-metrics"
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", c, *c, c.Secrets), fmt.Sprintf("%v %+v %#v %s", s, *s, s, s),
		fmt.Sprintf("%v %+v %#v", c.Metrics, c.Metrics, c.Metrics), slog.AnyValue(c.Metrics).Resolve().String()} {
		if strings.Contains(out, secret) || strings.Contains(out, string(s.Pepper)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
}

func TestResolvedCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		ttl       time.Duration
		want      time.Duration
	}{
		{"SQLite, automatic", "", 0, SQLiteCacheTTL},
		{"PostgreSQL, automatic", "postgres://db/latchkey", 0, PostgresCacheTTL},
		{"SQLite, set", "", 5 * time.Second, 5 * time.Second},
		{"PostgreSQL, set", "postgresql://db/latchkey", time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.Storage.DSN, c.Storage.CacheTTL = tc.dsn, Duration(tc.ttl)
			if got := c.ResolvedCacheTTL(); got != tc.want {
				t.Errorf("ResolvedCacheTTL = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestBackchannelAllowsPrivate: "auto" allows private back-channel
// destinations only for an issuer on a loopback host; "allow" and "deny"
// decide outright.
func TestBackchannelAllowsPrivate(t *testing.T) {
	for _, tc := range []struct {
		mode, issuer string
		want         bool
	}{
		{"auto", "http://localhost:8080", true},
		{"auto", "http://127.0.0.1:8080", true},
		{"auto", "http://[::1]:8080", true},
		{"auto", "https://auth.example.com", false},
		{"auto", "https://10.0.0.5", false},
		{"auto", "https://localhost.example.com", false},
		{"allow", "https://auth.example.com", true},
		{"deny", "http://localhost:8080", false},
	} {
		t.Run(tc.mode+" "+tc.issuer, func(t *testing.T) {
			c := Defaults()
			c.OAuth.BackchannelPrivateNetworks, c.Server.Issuer = tc.mode, tc.issuer
			if got := c.BackchannelAllowsPrivate(); got != tc.want {
				t.Errorf("BackchannelAllowsPrivate() = %v, want %v", got, tc.want)
			}
		})
	}
}

// Scope names must be writable in a verify permission expression.
func TestScopeNamesFitExpressions(t *testing.T) {
	for _, name := range []string{"videos(read)", "AND", "or", "a)b"} {
		c := Defaults()
		c.OAuth.Scopes = append(c.OAuth.Scopes, Scope{name, "x"})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "not a valid scope name") {
			t.Errorf("scope %q: %v, want refused", name, err)
		}
	}
}
