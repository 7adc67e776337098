// Package yaml mirrors the part of sigs.k8s.io/kustomize/kyaml/yaml that
// Flux's ObjectIdentifier embeds.
package yaml

// TypeMeta is an object's apiVersion and kind.
type TypeMeta struct {
	APIVersion string
	Kind       string
}

// NameMeta is an object's name and namespace.
type NameMeta struct {
	Name      string
	Namespace string
}

// ResourceIdentifier identifies an object.
type ResourceIdentifier struct {
	TypeMeta
	NameMeta
}

// Pointer-receiver getters, as kyaml has them (not callable on map keys).
func (r *ResourceIdentifier) GetName() string       { return r.Name }
func (r *ResourceIdentifier) GetNamespace() string  { return r.Namespace }
func (r *ResourceIdentifier) GetAPIVersion() string { return r.APIVersion }
func (r *ResourceIdentifier) GetKind() string       { return r.Kind }
