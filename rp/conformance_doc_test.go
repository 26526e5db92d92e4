package rp_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testRef is a test named in CONFORMANCE.md, as `TestName/sub/test`.
var testRef = regexp.MustCompile("`(Test[A-Za-z0-9]+)((?:/[^`/]+)*)`")

// TestConformanceDocument checks CONFORMANCE.md against the suite: every
// case of every plan has a row, and every test a row names exists.
func TestConformanceDocument(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "CONFORMANCE.md"))
	if err != nil {
		t.Fatal(err)
	}
	plans := map[string][]string{
		"TestConformanceBasic":             caseNames(basicPlan(t)),
		"TestConformanceFormPost":          caseNames(append(basicPlan(t), formPostPlan()...)),
		"TestConformanceConfig":            caseNames(configPlan()),
		"TestConformanceRPInitiatedLogout": caseNames(rpInitiatedLogoutPlan()),
		"TestConformanceFAPI2":             caseNames(fapiPlan(t)),
	}
	for _, c := range backchannelPlan() {
		plans["TestConformanceBackchannelLogout"] = append(plans["TestConformanceBackchannelLogout"], c.name)
	}
	for _, c := range refreshPlan() {
		plans["TestConformanceRefresh"] = append(plans["TestConformanceRefresh"], c.name)
	}
	sources := testSources(t)
	named := map[string]bool{}
	for _, m := range testRef.FindAllStringSubmatch(string(doc), -1) {
		fn, sub := m[1], strings.TrimPrefix(m[2], "/")
		if cases, ok := plans[fn]; ok {
			if sub == "" {
				continue // the plan as a whole
			}
			if !slices.Contains(cases, sub) {
				t.Errorf("CONFORMANCE.md names %s/%s: no such case", fn, sub)
			}
			named[fn+"/"+sub] = true
			continue
		}
		if !strings.Contains(sources, "func "+fn+"(t *testing.T)") {
			t.Errorf("CONFORMANCE.md names %s: no such test", fn)
			continue
		}
		for seg := range strings.SplitSeq(sub, "/") {
			if seg != "" && !strings.Contains(sources, `"`+seg+`"`) && !strings.Contains(sources, `"`+strings.ReplaceAll(seg, "_", " ")+`"`) {
				t.Errorf("CONFORMANCE.md names %s/%s: no subtest %q", fn, sub, seg)
			}
		}
	}
	for fn, cases := range plans {
		for _, c := range cases {
			if !named[fn+"/"+c] {
				t.Errorf("CONFORMANCE.md has no row for %s/%s", fn, c)
			}
		}
	}
}

// testSources returns the text of the package's test files.
func testSources(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}
