package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests drive the system Chromium through chromedp. They skip when
// no Chromium is installed; .ci/run installs one.
//
//	LATCHKEY_TEST_CHROMIUM   path of the browser binary (default: chromium,
//	                    chromium-browser, google-chrome on $PATH)
//	LATCHKEY_TEST_ARTIFACTS  directory for the screenshots (default: a temporary
//	                    directory removed after the test)
//	LATCHKEY_TEST_BROWSER_TIMING  non-empty: log how long each page step took

// chromiumPath finds the browser or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LATCHKEY_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("LATCHKEY_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not found; install it (apt-get install -y chromium) or set LATCHKEY_TEST_CHROMIUM")
	return ""
}

// chrome is one headless browser process with one tab, driving pages of
// the server at base.
type chrome struct {
	t         *testing.T
	ctx       context.Context // the tab, with the test's deadline
	base      string
	artifacts string

	mu       sync.Mutex
	problems []string // console errors and uncaught exceptions (CSP violations among them)

	axeSkipLogged bool // the "no axe-core" line was logged for this test
}

// Viewport sizes for screenshots: a phone and a desktop.
var shotWidths = []struct {
	width, height int64
	mobile        bool
}{{390, 844, true}, {1280, 900, false}}

// newChrome starts a fresh browser (own profile directory) for one test.
// Every action of the test must finish within timeout.
func newChrome(t *testing.T, base string, timeout time.Duration) *chrome {
	t.Helper()
	path := chromiumPath(t)
	profile, err := os.MkdirTemp("", "latchkey-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helper processes can write into the profile for a
		// moment after the browser exits; retry briefly.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)

	b := &chrome{t: t, base: base, artifacts: artifactsDir(t)}
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(cancelTab)
	// The first run starts the browser; it must not carry a deadline, which
	// would end the browser with it.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(tab, timeout)
	t.Cleanup(cancel)
	b.ctx = ctx
	return b
}

// artifactsDir is where screenshots go: $LATCHKEY_TEST_ARTIFACTS/<test name>,
// or a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("LATCHKEY_TEST_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (b *chrome) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		p = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			p += " " + ev.ExceptionDetails.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError && !strings.Contains(ev.Entry.Text, "status of 4") {
			p = "console: " + ev.Entry.Text
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// checkConsole fails the test on any script error or CSP violation seen.
func (b *chrome) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser reported: %s", p)
	}
	b.problems = nil
}

func (b *chrome) url(path string) string {
	if strings.HasPrefix(path, "/") {
		return b.base + path
	}
	return path
}

func (b *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (at %s)", what, err, b.location())
	}
}

// open loads a page and returns its HTTP status.
func (b *chrome) open(path string) int64 {
	b.t.Helper()
	defer b.timed("open " + path)()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.url(path)))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return resp.Status
}

// click clicks the element and waits for the page it leads to, returning
// that page's response.
func (b *chrome) click(css string) *network.Response {
	b.t.Helper()
	defer b.timed("click " + css)()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s: %v (at %s)", css, err, b.location())
	}
	return resp
}

// press clicks the element without waiting for a page load.
func (b *chrome) press(css string) {
	b.t.Helper()
	b.do("press "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// fill sets form fields by CSS selector.
func (b *chrome) fill(fields ...string) {
	b.t.Helper()
	if len(fields)%2 != 0 {
		b.t.Fatal("fill wants selector, value pairs")
	}
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] == "" {
			b.do("clear "+fields[i], chromedp.Clear(chromedp.CSS(fields[i]), chromedp.NodeReady))
			continue
		}
		b.do("fill "+fields[i], chromedp.SetValue(chromedp.CSS(fields[i]), fields[i+1], chromedp.NodeReady))
	}
}

// check ticks (on) or unticks a checkbox or radio by clicking it when needed.
func (b *chrome) check(css string, on bool) {
	b.t.Helper()
	checked, err := chromedp.Run(b.ctx, chromedp.JavascriptAttribute[bool](chromedp.CSS(css), "checked", chromedp.NodeReady))
	if err != nil {
		b.t.Fatalf("read %s: %v", css, err)
	}
	if checked != on {
		b.do("click "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
	}
}

// checked reports whether a checkbox or radio is ticked now.
func (b *chrome) checked(css string) bool {
	b.t.Helper()
	on, err := chromedp.Run(b.ctx, chromedp.JavascriptAttribute[bool](chromedp.CSS(css), "checked", chromedp.NodeReady))
	if err != nil {
		b.t.Fatalf("read %s: %v", css, err)
	}
	return on
}

func (b *chrome) text(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("text %s: %v (at %s)", css, err, b.location())
	}
	return strings.TrimSpace(s)
}

func (b *chrome) value(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(css), chromedp.NodeReady))
	if err != nil {
		b.t.Fatalf("value %s: %v (at %s)", css, err, b.location())
	}
	return s
}

// count returns how many elements match css now, without waiting.
func (b *chrome) count(css string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.querySelectorAll("+strconv.Quote(css)+").length"))
	if err != nil {
		b.t.Fatalf("count %s: %v", css, err)
	}
	return n
}

func (b *chrome) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// wantText fails unless the element's text contains every want.
func (b *chrome) wantText(css string, wants ...string) {
	b.t.Helper()
	got := b.text(css)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Fatalf("%s at %s: text %q lacks %q", css, b.location(), got, w)
		}
	}
}

// wantAt fails unless the browser is on path (ignoring the query).
func (b *chrome) wantAt(path string) {
	b.t.Helper()
	loc := b.location()
	if got := strings.SplitN(strings.TrimPrefix(loc, b.base), "?", 2)[0]; got != path {
		b.t.Fatalf("at %s, want %s", loc, path)
	}
}

// maxShotHeight is the tallest page shoot captures whole (CSS pixels).
const maxShotHeight = 12000

// shoot saves full-page screenshots of the current page at phone and
// desktop widths as <name>-<width>.png, checks that nothing overflows
// the phone's width, and runs axe-core on it (audit).
func (b *chrome) shoot(name string) {
	b.t.Helper()
	b.audit(name)
	defer b.timed("shoot " + name)()
	for _, v := range shotWidths {
		opts := []chromedp.EmulateViewportOption{}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("viewport", chromedp.EmulateViewport(v.width, v.height, opts...))
		if v.mobile {
			// Nothing may be wider than the phone's screen.
			w, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
			if err != nil {
				b.t.Fatal(err)
			}
			if int64(w) > v.width {
				b.t.Errorf("%s: page is %dpx wide on a %dpx phone", name, w, v.width)
			}
		}
		shot := chromedp.FullScreenshot(100)
		if h, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.documentElement.scrollHeight")); err == nil && h > maxShotHeight {
			// Chromium refuses full-page captures this tall ("Page is too
			// large"): the first screen of the page stands for it.
			shot = chromedp.CaptureScreenshot()
		}
		png, err := chromedp.Run(b.ctx, shot)
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(b.artifacts, fmt.Sprintf("%s-%d.png", name, v.width))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("viewport", chromedp.EmulateViewport(1280, 900))
}

func (b *chrome) timed(what string) func() {
	start := time.Now()
	return func() {
		if os.Getenv("LATCHKEY_TEST_BROWSER_TIMING") != "" {
			b.t.Logf("%6.0fms %s", float64(time.Since(start).Microseconds())/1000, what)
		}
	}
}
