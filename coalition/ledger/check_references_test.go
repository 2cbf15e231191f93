package ledger_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The posting tables name members, partners, accounts, windows,
// transactions and lots without foreign keys (migration 0025), which is
// sound only while no statement deletes those rows: a posting is undone by
// another posting, a partner is suspended, a window closes.
func TestNothingDeletesWhatPostingsName(t *testing.T) {
	named := regexp.MustCompile(`(?is)\b(DELETE\s+FROM|TRUNCATE(\s+TABLE)?)\s+(ONLY\s+)?(members|partners|accounts|settlement_windows|transactions|lots|entries|earn_lines|lot_consumptions)\b`)
	root := filepath.Join("..", "..")
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sql")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range named.FindAll(b, -1) {
			offenders = append(offenders, path+": "+string(m))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offenders) > 0 {
		t.Errorf("statements delete rows that postings name without a foreign key:\n%s", strings.Join(offenders, "\n"))
	}
	// The pattern itself finds what it is for.
	if !named.MatchString("tx.Exec(ctx, `DELETE FROM lots WHERE id = $1`)") || !named.MatchString("TRUNCATE transactions") {
		t.Fatal("the pattern misses a DELETE it is meant to find")
	}
}
