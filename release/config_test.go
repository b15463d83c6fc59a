package release_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/release"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../schema/tagrelay.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("tagrelay.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("tagrelay.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaValidate(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return err
	}
	b, _ := json.Marshal(v)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(doc)
}

// The schema and the loader agree on every example: both accept the valid ones, both refuse
// the invalid ones (the loader as an input error, exit 2).
func TestConfigExamplesAgainstSchemaAndLoader(t *testing.T) {
	t.Parallel()
	s := compileSchema(t)
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "config", dir, "*.yaml"))
		if len(files) < 3 {
			t.Fatalf("too few %s examples: %v", dir, files)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := schemaValidate(t, s, data)
			_, loadErr := release.ParseConfig(data)
			if dir == "valid" {
				if schemaErr != nil || loadErr != nil {
					t.Errorf("%s: schema: %v; loader: %v", f, schemaErr, loadErr)
				}
				continue
			}
			if schemaErr == nil {
				t.Errorf("%s: the schema accepts it", f)
			}
			if loadErr == nil || !errors.Is(loadErr, errdefs.ErrInvalid) {
				t.Errorf("%s: ParseConfig() = %v, want an input error", f, loadErr)
			}
		}
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := release.LoadConfig(filepath.Join(t.TempDir(), ".tagrelay.yaml"))
	if !errors.Is(err, errdefs.ErrInvalid) || errdefs.Hint(err) == "" {
		t.Errorf("LoadConfig(missing) = %v (hint %q), want an input error with a hint", err, errdefs.Hint(err))
	}
}
