package render

import (
	"path"
	"sort"
	"strings"
)

// plain decodes every .yaml, .yml and .json file below the path, in path order, skipping
// dot-files and dot-directories.
func (r *run) plain() (*Result, error) {
	var names []string
	for name := range r.req.Files {
		if !under(name, r.req.Path) || hidden(strings.TrimPrefix(name, r.req.Path)) {
			continue
		}
		switch path.Ext(name) {
		case ".yaml", ".yml", ".json":
			names = append(names, name)
		}
	}
	sort.Strings(names)
	res := &Result{}
	for _, name := range names {
		objs, err := r.decodeChecked(name, r.req.Files[name])
		if err != nil {
			return nil, err
		}
		res.Objects = append(res.Objects, objs...)
	}
	res.Bytes = r.size.bytes
	return res, nil
}
