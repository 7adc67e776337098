// Package source mirrors current Flux's commit message template data
// (image-automation-controller internal/source.TemplateData).
package source

import (
	"tagpilot.test/gotemplate-oracle/tagpilot"
	"tagpilot.test/gotemplate-oracle/types"
	"tagpilot.test/gotemplate-oracle/update"
)

// TemplateData is what a v1beta2 or v1 messageTemplate sees.
type TemplateData struct {
	AutomationObject types.NamespacedName
	Changed          update.Result
	Values           map[string]string
}

// Images is tagpilot's addition: the updated images and their annotations.
func (TemplateData) Images() []tagpilot.Image { return tagpilot.Current }
