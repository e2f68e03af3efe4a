// Package kubectl drives drover's apiserver with the real kubectl (built from
// k8s.io/kubectl at v1.37.2) and checks what a user sees: output, tables, errors and exit
// codes as on Kubernetes.
package kubectl

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"drover.dev/e2e/framework"
)

func TestMain(m *testing.M) {
	framework.Main(m, framework.MainOptions{Cluster: true, Binaries: []string{framework.BinKubectl}})
}

// defaultWait bounds waits for things that happen within moments on a healthy server.
const defaultWait = 30 * time.Second

// env is what most tests need: the cluster, a clientset to check outcomes, a kubectl
// with its own home, and a namespace of the test's own.
type env struct {
	c  *framework.Cluster
	cs *kubernetes.Clientset
	k  *framework.CLI
	ns string
}

func setup(t *testing.T) env {
	t.Helper()
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	return env{c: c, cs: cs, k: c.Kubectl(t), ns: framework.TestNamespace(t, cs)}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// table is kubectl's tabular output: a header and rows keyed by column name.
type table struct {
	header []string
	rows   []map[string]string
}

// columnRE finds header cells: words joined by single spaces ("NOMINATED NODE"), the
// cells themselves separated by kubectl's padding of at least three spaces.
var columnRE = regexp.MustCompile(`\S+(?: \S+)*`)

// parseTable parses kubectl's table output by the header's column positions, so that
// empty cells (api-resources' SHORTNAMES) do not shift the columns.
func parseTable(t *testing.T, out string) table {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) == "" {
		t.Fatalf("no table in output %q", out)
	}
	locs := columnRE.FindAllStringIndex(lines[0], -1)
	tb := table{}
	for _, l := range locs {
		tb.header = append(tb.header, lines[0][l[0]:l[1]])
	}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, l := range locs {
			start, end := l[0], len(line)
			if i+1 < len(locs) {
				end = min(locs[i+1][0], len(line))
			}
			if start < len(line) {
				row[tb.header[i]] = strings.TrimSpace(line[start:end])
			}
		}
		tb.rows = append(tb.rows, row)
	}
	return tb
}

// row returns the row whose column col is val.
func (tb table) row(t *testing.T, col, val string) map[string]string {
	t.Helper()
	for _, r := range tb.rows {
		if r[col] == val {
			return r
		}
	}
	t.Fatalf("no row with %s=%s in %v", col, val, tb.rows)
	return nil
}

func wantHeader(t *testing.T, tb table, want ...string) {
	t.Helper()
	if !slices.Equal(tb.header, want) {
		t.Errorf("table header %q, want %q (Kubernetes' columns)", tb.header, want)
	}
}

// wantLines fails the test unless out has each of the lines (in any order).
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	got := strings.Split(strings.TrimSpace(out), "\n")
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("output lacks line %q; got:\n%s", w, out)
		}
	}
}

func ptr[T any](v T) *T { return &v }
