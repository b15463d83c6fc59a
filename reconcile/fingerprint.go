package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// A no-change sync should not cost a dry run per object. After an apply, the inventory keeps two
// fingerprints per object: Config, the hash of what was applied, and Fields, the hash of the
// field set that server-side apply then recorded for FieldManager in metadata.managedFields.
//
// If the rendered object hashes to Config, the configuration did not change. If the live
// object's FieldManager entry still hashes to Fields, nobody took any of those fields over:
// an Update (kubectl edit, set image, client-side apply) or a forced Apply that changes a field
// moves its ownership away from FieldManager, which changes the entry. Together they mean
// applying again would change nothing, so the dry run is skipped. Anything else — an unknown
// fingerprint, an adopted object, a field taken over — gets the dry run.

// unchangedSinceApply reports whether res can skip its dry run.
func unchangedSinceApply(res *resource, last ref) bool {
	if res.live == nil || last.Config == "" || last.Fields == "" {
		return false
	}
	return configHash(res.obj) == last.Config && fieldsHash(res.live) == last.Fields
}

// fingerprint returns the inventory entry of res after a sync: the fingerprints of the apply, or
// of the live object when nothing was applied.
func (res *resource) fingerprint() ref {
	r := res.ref()
	switch {
	case res.applied != nil:
		r.Config, r.Fields = configHash(res.obj), fieldsHash(res.applied)
	case res.action == api.ActionUnchanged && res.live != nil:
		r.Config, r.Fields = configHash(res.obj), fieldsHash(res.live)
	}
	if r.Fields == "" {
		r.Config = ""
	}
	return r
}

func configHash(u *unstructured.Unstructured) string {
	b, err := json.Marshal(u.Object) // map keys are sorted: stable
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// fieldsHash hashes the field set FieldManager owns through Apply on the main resource; "" when
// it owns none.
func fieldsHash(u *unstructured.Unstructured) string {
	for _, e := range u.GetManagedFields() {
		if e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" && e.FieldsV1 != nil {
			sum := sha256.Sum256(e.FieldsV1.GetRawBytes())
			return hex.EncodeToString(sum[:12])
		}
	}
	return ""
}
