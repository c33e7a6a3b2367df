package controlplane

import (
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// errNotFound is answered for missing objects and other tenants' objects
// alike, so a caller learns nothing about objects it cannot see.
var errNotFound = apiv1.NotFound

// fail answers err with the status and code of its kind (apiv1.CodeOf).
func fail(w http.ResponseWriter, err error) {
	code := apiv1.CodeOf(err)
	api.JSON(w, code.Status(), apiv1.Error{Message: err.Error(), Code: code})
}
