// Package tagpilot is tagpilot's addition to Flux's template data: the
// `.Images` method (see src/git/flux_message_images.rs). The package name
// matters: Go prints it in the element type, `tagpilot.Image`.
package tagpilot

import "tagpilot.test/gotemplate-oracle/types"

// Image is one updated image and what its registry says about it.
type Image struct {
	Policy      types.NamespacedName
	Name        string
	Tag         string
	Digest      string
	Source      string
	Revision    string
	Version     string
	Created     string
	Old         string
	OldRevision string
	OldVersion  string
	CompareURL  string
}

// String is the new image's full reference.
func (i Image) String() string {
	s := i.Name + ":" + i.Tag
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// Current is what `.Images` returns for the render in progress. Flux's data
// types have no room for it (a field, even unexported, would change how
// `{{ . }}` prints), so the oracle, which renders one template at a time,
// keeps it here.
var Current []Image
