// Package types mirrors k8s.io/apimachinery/pkg/types.NamespacedName (the
// package name matters: Go prints it in values' type names).
package types

// NamespacedName is a namespace and a name; it prints as "namespace/name".
type NamespacedName struct {
	Namespace string
	Name      string
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }
