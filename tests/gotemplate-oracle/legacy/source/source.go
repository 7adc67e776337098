// Package source mirrors the v1beta1 era's commit message template data
// (image-automation-controller v0.41 internal/source.TemplateData).
package source

import (
	"tagpilot.test/gotemplate-oracle/legacy/update"
	"tagpilot.test/gotemplate-oracle/tagpilot"
	"tagpilot.test/gotemplate-oracle/types"
)

// TemplateData is what a v1beta1 messageTemplate sees.
type TemplateData struct {
	AutomationObject types.NamespacedName
	Updated          update.Result
	Changed          update.ResultV2
	Values           map[string]string
}

// Images is tagpilot's addition: the updated images and their annotations.
func (TemplateData) Images() []tagpilot.Image { return tagpilot.Current }
