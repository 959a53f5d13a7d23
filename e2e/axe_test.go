package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Accessibility: every page a browser test screenshots (chrome.shoot) is
// also checked with axe-core, pinned in axe/package-lock.json. The script
// is installed once per run with `npm ci` into a directory outside the
// repository and injected with CDP Runtime.evaluate — not a <script> tag,
// which the pages' CSP would refuse. Violations of impact "serious" or
// "critical" fail the test; milder ones are logged.
//
//	LATCHKEY_TEST_AXE_CACHE  where `npm ci` installs axe-core (default:
//	                    latchkey-e2e/axe-<lock hash> in the user cache directory)
//
// Without node or npm the check is skipped with one log line per test; the
// other assertions still run.

var axeOnce struct {
	sync.Once
	src  string
	skip string // why there is no axe-core, when src is empty
}

// axeTimeout bounds `npm ci`.
const axeTimeout = 3 * time.Minute

// axeSource returns axe.min.js, installing it on first use, or "" and the
// reason it is unavailable.
func axeSource() (string, string) {
	axeOnce.Do(func() {
		axeOnce.src, axeOnce.skip = installAxe()
	})
	return axeOnce.src, axeOnce.skip
}

func installAxe() (string, string) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "npm not found; install Node.js with npm to run the axe-core accessibility checks"
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", "node not found; install Node.js to run the axe-core accessibility checks"
	}
	pkg, err := os.ReadFile(filepath.Join("axe", "package.json"))
	if err != nil {
		return "", fmt.Sprintf("read axe/package.json: %v", err)
	}
	lock, err := os.ReadFile(filepath.Join("axe", "package-lock.json"))
	if err != nil {
		return "", fmt.Sprintf("read axe/package-lock.json: %v", err)
	}
	sum := sha256.Sum256(append(pkg, lock...))
	dir := os.Getenv("LATCHKEY_TEST_AXE_CACHE")
	if dir == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Sprintf("no cache directory (%v); set LATCHKEY_TEST_AXE_CACHE", err)
		}
		dir = filepath.Join(uc, "latchkey-e2e", "axe-"+hex.EncodeToString(sum[:6]))
	}
	script := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if src, err := os.ReadFile(script); err == nil {
		return string(src), ""
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err.Error()
	}
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err.Error()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), axeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--prefer-offline", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("npm ci for axe-core in %s: %v\n%s", dir, err, out)
	}
	src, err := os.ReadFile(script)
	if err != nil {
		return "", fmt.Sprintf("npm ci installed no axe.min.js: %v", err)
	}
	return string(src), ""
}

// axeViolation is the part of an axe-core result the test reports.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// axeRun is evaluated in the page: axe-core's WCAG 2.x A/AA rules and best
// practices, violations only, as JSON.
const axeRun = `axe.run(document, {resultTypes: ["violations"], runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))}))))`

// audit runs axe-core on the current page (named name in messages) and
// fails the test on serious or critical violations.
func (b *chrome) audit(name string) {
	b.t.Helper()
	b.auditScheme(name, "light")
	if _, skip := axeSource(); skip == "" {
		b.auditScheme(name, "dark")
	}
}

// auditScheme runs audit with prefers-color-scheme emulated as scheme, so
// the dark palette's contrast is checked too.
func (b *chrome) auditScheme(name, scheme string) {
	b.t.Helper()
	b.do("color scheme "+scheme, colorScheme(scheme))
	defer b.do("color scheme reset", colorScheme(""))
	name += " (" + scheme + ")"
	for _, v := range b.axeViolations(name) {
		var where []string
		for i, n := range v.Nodes {
			if i == 5 {
				where = append(where, fmt.Sprintf("… and %d more", len(v.Nodes)-i))
				break
			}
			where = append(where, fmt.Sprintf("%v %s — %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", " ")))
		}
		msg := fmt.Sprintf("axe %s: %s (%s): %s\n  %s", name, v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
		if v.blocking() {
			b.t.Error(msg)
		} else {
			b.t.Log(msg)
		}
	}
}

// colorScheme emulates prefers-color-scheme ("" = the browser's own).
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	p := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	})
}

// blocking reports whether the violation fails a test.
func (v axeViolation) blocking() bool { return v.Impact == "serious" || v.Impact == "critical" }

// axeViolations injects axe-core when the page lacks it and returns what
// it finds; nil, after one log line per test, without axe-core.
func (b *chrome) axeViolations(name string) []axeViolation {
	b.t.Helper()
	src, skip := axeSource()
	if src == "" {
		if !b.axeSkipLogged {
			b.axeSkipLogged = true
			b.t.Logf("accessibility checks skipped: %s", skip)
		}
		return nil
	}
	defer b.timed("axe " + name)()
	loaded, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		b.t.Fatalf("axe %s: %v", name, err)
	}
	if !loaded {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](src+"\n;true")); err != nil {
			b.t.Fatalf("inject axe-core into %s: %v", name, err)
		}
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe %s: %v", name, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		b.t.Fatalf("axe %s: %v", name, err)
	}
	return vs
}

// TestAxeFindsViolations proves the check is live: on a page with an image
// without alt text and an unlabelled input, axe-core reports both as
// failing violations.
func TestAxeFindsViolations(t *testing.T) {
	if src, skip := axeSource(); src == "" {
		t.Skip(skip)
	}
	b := newChrome(t, "", 30*time.Second)
	b.open(`data:text/html,<!DOCTYPE html><html lang="en"><title>x</title><main><img src="data:,"><input type="text"></main></html>`)
	b.do("dark", colorScheme("dark"))
	if dark, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`matchMedia("(prefers-color-scheme: dark)").matches`)); err != nil || !dark {
		t.Fatalf("dark scheme not emulated: %v %v", dark, err)
	}
	found := map[string]bool{}
	for _, v := range b.axeViolations("bad page") {
		found[v.ID] = v.blocking()
	}
	for _, id := range []string{"image-alt", "label"} {
		if !found[id] {
			t.Errorf("axe did not fail %s; found %v", id, found)
		}
	}
}
