// Package update mirrors the shapes of the update results of Flux's
// v1beta1 era (image-automation-controller v0.41, pkg/update): Result (file →
// object → image refs, the template's .Updated) and ResultV2 (.Changed).
//
// Flux iterates Go maps, so the order of Changes(), Objects() and Images()
// is random when more than one file or object changed. Here the iteration is
// in sorted order (files by name, objects by apiVersion, kind, name,
// namespace): one of the orders Flux can produce, and the one tagpilot gives.
package update

import (
	"sort"

	"github.com/google/go-containerregistry/pkg/name"

	"tagpilot.test/gotemplate-oracle/types"
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

// AddChange records a change.
func (r *ResultV2) AddChange(file string, id ObjectIdentifier, changes ...Change) {
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

// ImageRef is an image reference written by an update (v1beta1 era).
type ImageRef interface {
	String() string
	Identifier() string
	Repository() string
	Registry() string
	Name() string
	Policy() types.NamespacedName
}

// NewImageRef parses an image as Flux did (weak validation).
func NewImageRef(image string, policy types.NamespacedName) (ImageRef, error) {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return nil, err
	}
	return imageRef{Reference: ref, policy: policy}, nil
}

type imageRef struct {
	name.Reference
	policy types.NamespacedName
}

func (i imageRef) Policy() types.NamespacedName { return i.policy }
func (i imageRef) Repository() string           { return i.Context().RepositoryStr() }
func (i imageRef) Registry() string             { return i.Context().Registry.String() }

// FileResult is the images written per object of one file (v1beta1 era).
type FileResult struct {
	Objects map[ObjectIdentifier][]ImageRef
}

// Result is the v1beta1 era's .Updated.
type Result struct {
	Files map[string]FileResult
}

// Images lists every image written, once.
func (r Result) Images() []ImageRef {
	seen := map[ImageRef]struct{}{}
	var result []ImageRef
	for _, file := range sortedFiles(r.Files) {
		objects := r.Files[file].Objects
		for _, id := range sortedObjects(objects) {
			for _, ref := range objects[id] {
				if _, ok := seen[ref]; !ok {
					seen[ref] = struct{}{}
					result = append(result, ref)
				}
			}
		}
	}
	return result
}

// Objects merges the images of each object across files.
func (r Result) Objects() map[ObjectIdentifier][]ImageRef {
	result := map[ObjectIdentifier][]ImageRef{}
	for _, file := range sortedFiles(r.Files) {
		for id, refs := range r.Files[file].Objects {
			result[id] = append(result[id], refs...)
		}
	}
	return result
}

// ResultV2 is the v1beta1 era's .Changed.
type ResultV2 struct {
	ImageResult Result
	FileChanges map[string]ObjectChanges
}

// Changes lists every change once.
func (r ResultV2) Changes() []Change { return changes(r.FileChanges) }

// Objects gives each object's changes; an object in several files keeps the last file's.
func (r ResultV2) Objects() ObjectChanges {
	result := ObjectChanges{}
	for _, file := range sortedFiles(r.FileChanges) {
		for id, changes := range r.FileChanges[file] {
			result[id] = changes
		}
	}
	return result
}
