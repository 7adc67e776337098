// Package update mirrors the shapes of current Flux's update result
// (internal/update.Result: file → object → changes).
//
// Flux iterates Go maps, so the order of Changes(), Objects() and Images()
// is random when more than one file or object changed. Here the iteration is
// in sorted order (files by name, objects by apiVersion, kind, name,
// namespace): one of the orders Flux can produce, and the one tagpilot gives.
package update

import (
	"sort"

	"tagpilot.test/gotemplate-oracle/yaml"
)

// ObjectIdentifier identifies the object a change is in.
type ObjectIdentifier struct {
	yaml.ResourceIdentifier
}

// Change is one changed value.
type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

// ObjectChanges are the changes per object.
type ObjectChanges map[ObjectIdentifier][]Change

// Result is current Flux's template data under .Changed.
type Result struct {
	FileChanges map[string]ObjectChanges
}

// AddChange records a change.
func (r *Result) AddChange(file string, id ObjectIdentifier, changes ...Change) {
	if r.FileChanges == nil {
		r.FileChanges = map[string]ObjectChanges{}
	}
	if _, ok := r.FileChanges[file]; !ok {
		r.FileChanges[file] = ObjectChanges{}
	}
	r.FileChanges[file][id] = append(r.FileChanges[file][id], changes...)
}

func sortedFiles[T any](m map[string]T) []string {
	files := make([]string, 0, len(m))
	for f := range m {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}

// Less orders identifiers as Go's fmtsort does (field by field).
func Less(a, b ObjectIdentifier) bool {
	x := []string{a.APIVersion, a.Kind, a.Name, a.Namespace}
	y := []string{b.APIVersion, b.Kind, b.Name, b.Namespace}
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

func sortedObjects[T any](m map[ObjectIdentifier]T) []ObjectIdentifier {
	ids := make([]ObjectIdentifier, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return Less(ids[i], ids[j]) })
	return ids
}

func changes(fileChanges map[string]ObjectChanges) []Change {
	seen := map[Change]struct{}{}
	var result []Change
	for _, file := range sortedFiles(fileChanges) {
		objects := fileChanges[file]
		for _, id := range sortedObjects(objects) {
			for _, change := range objects[id] {
				if _, ok := seen[change]; !ok {
					seen[change] = struct{}{}
					result = append(result, change)
				}
			}
		}
	}
	return result
}

// Changes lists every change once.
func (r Result) Changes() []Change { return changes(r.FileChanges) }

// Objects merges the changes of each object across files.
func (r Result) Objects() ObjectChanges {
	result := ObjectChanges{}
	for _, file := range sortedFiles(r.FileChanges) {
		for id, changes := range r.FileChanges[file] {
			result[id] = append(result[id], changes...)
		}
	}
	return result
}
