package interop

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestWorksWithTable keeps the README's "Works with" table true: each
// version it names is the one the suite pins — openid-client and
// playwright-core in node/package.json (exact, no range) and
// node/package-lock.json, go-oidc and x/oauth2 in go.mod, oauth2-proxy in
// oauth2ProxyVersion.
func TestWorksWithTable(t *testing.T) {
	readme := read(t, "../README.md")
	rows := worksWithRows(t, readme)

	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal([]byte(read(t, "node/package.json")), &pkg); err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(read(t, "node/package-lock.json")), &lock); err != nil {
		t.Fatal(err)
	}
	npmVersion := func(name string) string {
		t.Helper()
		locked := lock.Packages["node_modules/"+name].Version
		if pinned := pkg.Dependencies[name]; pinned != locked {
			t.Errorf("node/package.json pins %s %q, package-lock.json has %q: pin the exact version", name, pinned, locked)
		}
		return locked
	}
	goMod := read(t, "../go.mod")
	goVersionOf := func(module string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindStringSubmatch(goMod)
		if m == nil {
			t.Fatalf("go.mod does not require %s", module)
		}
		return m[1]
	}

	for _, tc := range []struct {
		row   string   // the first cell starts with this
		wants []string // versions the version cell must name
	}{
		{"openid-client", []string{npmVersion("openid-client"), "playwright-core " + npmVersion("playwright-core")}},
		{"go-oidc", []string{goVersionOf("github.com/coreos/go-oidc/v3"), "x/oauth2 " + goVersionOf("golang.org/x/oauth2")}},
		{"oauth2-proxy", []string{oauth2ProxyVersion}},
	} {
		cell, ok := rows[tc.row]
		if !ok {
			t.Errorf("README's Works with table has no %s row", tc.row)
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(cell, w) {
				t.Errorf("README's Works with table: %s version %q does not name %q (what the suite pins)", tc.row, cell, w)
			}
		}
	}
}

// worksWithRows returns the version cell of each row of the table under
// the README's "## Works with" heading, by the row's first word (links and
// backquotes removed).
func worksWithRows(t *testing.T, readme string) map[string]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Works with\n")
	if !ok {
		t.Fatal(`README.md has no "## Works with" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	clean := strings.NewReplacer("`", "", "[", "", "]", "")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		name := strings.Fields(clean.Replace(cells[0]))
		if len(name) == 0 {
			continue
		}
		rows[name[0]] = strings.TrimSpace(clean.Replace(cells[1]))
	}
	return rows
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
