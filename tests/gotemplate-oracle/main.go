// Command gotemplate-oracle renders Flux commit message templates with real
// Go text/template and Sprig's hermetic functions, over data shaped as Flux
// shapes it, so that tagpilot's interpreter can be compared byte for byte.
//
//	gotemplate-oracle check DIR    compare DIR/cases/*/expected.{txt,err}; exit 1 on a difference
//	gotemplate-oracle write DIR    (re)write the expected files
//	gotemplate-oracle render VERSION INPUT.json TEMPLATE   print one result
//
// A case is DIR/cases/NAME/template.tmpl and case.json ({"version": "v1",
// "input": "NAME"}), with its change set in DIR/inputs/NAME.json.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	legacysource "tagpilot.test/gotemplate-oracle/legacy/source"
	legacyupdate "tagpilot.test/gotemplate-oracle/legacy/update"
	"tagpilot.test/gotemplate-oracle/source"
	"tagpilot.test/gotemplate-oracle/tagpilot"
	"tagpilot.test/gotemplate-oracle/types"
	"tagpilot.test/gotemplate-oracle/update"
	"tagpilot.test/gotemplate-oracle/yaml"
)

// Input is a change set as tagpilot's update engine reports it.
type Input struct {
	Automation struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"automation"`
	Values map[string]string `json:"values"`
	// UpdatePath is the automation's spec.update.path; file names in the
	// data are relative to it (to its directory when it is a file), as
	// Flux's file reader makes them.
	UpdatePath string `json:"updatePath"`
	Changes    []struct {
		File string `json:"file"`
		// Object is null for a YAML document without metadata: Flux leaves
		// such changes out of the template data.
		Object *struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			Namespace  string `json:"namespace"`
		} `json:"object"`
		Setter string `json:"setter"`
		Old    string `json:"old"`
		New    string `json:"new"`
	} `json:"changes"`
	Images []struct {
		Namespace string `json:"namespace"`
		Policy    string `json:"policy"`
		Name      string `json:"name"`
		Tag       string `json:"tag"`
		Digest    string `json:"digest"`
		// What tagpilot read from the registry (`.Images`; optional).
		Source      string `json:"source"`
		Revision    string `json:"revision"`
		Version     string `json:"version"`
		Created     string `json:"created"`
		Old         string `json:"old"`
		OldRevision string `json:"old_revision"`
		OldVersion  string `json:"old_version"`
		CompareURL  string `json:"compare_url"`
	} `json:"images"`
}

// tagpilotImages is `.Images` for the input.
func tagpilotImages(in Input) []tagpilot.Image {
	images := make([]tagpilot.Image, 0, len(in.Images))
	for _, i := range in.Images {
		images = append(images, tagpilot.Image{
			Policy: types.NamespacedName{Namespace: i.Namespace, Name: i.Policy},
			Name:   i.Name, Tag: i.Tag, Digest: i.Digest,
			Source: i.Source, Revision: i.Revision, Version: i.Version, Created: i.Created,
			Old: i.Old, OldRevision: i.OldRevision, OldVersion: i.OldVersion, CompareURL: i.CompareURL,
		})
	}
	return images
}

const defaultMessageTemplate = `Update from image update automation`

func id(c Input, i int) yaml.ResourceIdentifier {
	o := c.Changes[i].Object
	return yaml.ResourceIdentifier{
		TypeMeta: yaml.TypeMeta{APIVersion: o.APIVersion, Kind: o.Kind},
		NameMeta: yaml.NameMeta{Name: o.Name, Namespace: o.Namespace},
	}
}

// fluxFile is a change's file name as Flux's reader annotates it: relative
// to the update path, or to its directory when the update path is a file.
func fluxFile(in Input, file string) string {
	base := filepath.Clean(in.UpdatePath)
	if base == "." || base == "" {
		return file
	}
	for _, c := range in.Changes {
		if filepath.Clean(c.File) == base {
			base = filepath.Dir(base)
			break
		}
	}
	rel, err := filepath.Rel(base, file)
	if err != nil {
		return file
	}
	return rel
}

func currentData(in Input) source.TemplateData {
	var changed update.Result
	for i, c := range in.Changes {
		if c.Object == nil {
			continue
		}
		changed.AddChange(fluxFile(in, c.File), update.ObjectIdentifier{ResourceIdentifier: id(in, i)},
			update.Change{OldValue: c.Old, NewValue: c.New, Setter: c.Setter})
	}
	return source.TemplateData{
		AutomationObject: types.NamespacedName{Namespace: in.Automation.Namespace, Name: in.Automation.Name},
		Changed:          changed,
		Values:           in.Values,
	}
}

func legacyData(in Input) (legacysource.TemplateData, error) {
	updated := legacyupdate.Result{Files: map[string]legacyupdate.FileResult{}}
	var changed legacyupdate.ResultV2
	for i, c := range in.Changes {
		if c.Object == nil {
			continue
		}
		oid := legacyupdate.ObjectIdentifier{ResourceIdentifier: id(in, i)}
		changed.AddChange(fluxFile(in, c.File), oid, legacyupdate.Change{OldValue: c.Old, NewValue: c.New, Setter: c.Setter})
		parts := strings.SplitN(c.Setter, ":", 3)
		var ref legacyupdate.ImageRef
		for _, image := range in.Images {
			if len(parts) >= 2 && image.Namespace == parts[0] && image.Policy == parts[1] {
				// The ImagePolicy's status.latestRef.String(), as Flux parses it.
				text := image.Name + ":" + image.Tag
				if image.Digest != "" {
					text += "@" + image.Digest
				}
				r, err := legacyupdate.NewImageRef(text, types.NamespacedName{Namespace: image.Namespace, Name: image.Policy})
				if err != nil {
					return legacysource.TemplateData{}, err
				}
				ref = r
			}
		}
		if ref == nil {
			continue
		}
		name := fluxFile(in, c.File)
		file, ok := updated.Files[name]
		if !ok {
			file = legacyupdate.FileResult{Objects: map[legacyupdate.ObjectIdentifier][]legacyupdate.ImageRef{}}
			updated.Files[name] = file
		}
		present := false
		for _, n := range file.Objects[oid] {
			present = present || n == ref
		}
		if !present {
			file.Objects[oid] = append(file.Objects[oid], ref)
		}
	}
	changed.ImageResult = updated
	return legacysource.TemplateData{
		AutomationObject: types.NamespacedName{Namespace: in.Automation.Namespace, Name: in.Automation.Name},
		Updated:          updated,
		Changed:          changed,
		Values:           in.Values,
	}, nil
}

// render does what Flux's templateMsg does for the given API version.
func render(version, messageTemplate string, in Input) (string, error) {
	if messageTemplate == "" {
		messageTemplate = defaultMessageTemplate
	}
	t, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(messageTemplate)
	if err != nil {
		return "", fmt.Errorf("unable to create commit message template from spec: %w", err)
	}
	tagpilot.Current = tagpilotImages(in)
	var data any
	switch version {
	case "v1beta1":
		d, err := legacyData(in)
		if err != nil {
			return "", err
		}
		data = d
	case "v1beta2", "v1":
		data = currentData(in)
	default:
		return "", fmt.Errorf("unknown version %q", version)
	}
	b := &strings.Builder{}
	if err := t.Execute(b, data); err != nil {
		if version != "v1beta1" {
			if strings.Contains(err.Error(), "can't evaluate field Updated in type source.TemplateData") {
				return "", errors.New("template uses removed '.Updated' field. Please use '.Changed' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template")
			}
			if strings.Contains(err.Error(), "can't evaluate field ImageResult in type update.Result") {
				return "", errors.New("template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template")
			}
		}
		return "", fmt.Errorf("failed to run template from spec: %w", err)
	}
	return b.String(), nil
}

type caseFile struct {
	Version string `json:"version"`
	Input   string `json:"input"`
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func runCase(dir, caseDir string) (out string, isErr bool, err error) {
	var c caseFile
	if err := readJSON(filepath.Join(caseDir, "case.json"), &c); err != nil {
		return "", false, err
	}
	var in Input
	if err := readJSON(filepath.Join(dir, "inputs", c.Input+".json"), &in); err != nil {
		return "", false, err
	}
	text, err := os.ReadFile(filepath.Join(caseDir, "template.tmpl"))
	if err != nil {
		return "", false, err
	}
	msg, renderErr := render(c.Version, string(text), in)
	if renderErr != nil {
		return renderErr.Error(), true, nil
	}
	return msg, false, nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gotemplate-oracle check|write DIR | render VERSION INPUT.json TEMPLATE")
		os.Exit(2)
	}
	if os.Args[1] == "render" && len(os.Args) == 5 {
		var in Input
		if err := readJSON(os.Args[3], &in); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		text, err := os.ReadFile(os.Args[4])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		msg, err := render(os.Args[2], string(text), in)
		if err != nil {
			fmt.Print("ERROR: " + err.Error())
			return
		}
		fmt.Print(msg)
		return
	}
	dir := os.Args[2]
	cases, err := filepath.Glob(filepath.Join(dir, "cases", "*", "template.tmpl"))
	if err != nil || len(cases) == 0 {
		fmt.Fprintf(os.Stderr, "no cases under %s/cases\n", dir)
		os.Exit(2)
	}
	sort.Strings(cases)
	failed := 0
	for _, t := range cases {
		caseDir := filepath.Dir(t)
		out, isErr, err := runCase(dir, caseDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", caseDir, err)
			os.Exit(2)
		}
		name, other := "expected.txt", "expected.err"
		if isErr {
			name, other = other, name
		}
		switch os.Args[1] {
		case "write":
			if err := os.WriteFile(filepath.Join(caseDir, name), []byte(out), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			_ = os.Remove(filepath.Join(caseDir, other))
		case "check":
			want, err := os.ReadFile(filepath.Join(caseDir, name))
			if err != nil || string(want) != out {
				failed++
				fmt.Printf("MISMATCH %s: real Go gives %s:\n%q\n", caseDir, name, out)
			}
		default:
			fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
			os.Exit(2)
		}
	}
	fmt.Printf("%d passed, %d failed\n", len(cases)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
