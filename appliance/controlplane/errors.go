package controlplane

import (
	"errors"
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// errorBody is an error with a machine-readable code.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// errNotFound is answered for missing objects and other tenants' objects
// alike, so a caller learns nothing about objects it cannot see.
var errNotFound = errors.New("not found")

// fail answers err with the status and code its kind calls for.
func fail(w http.ResponseWriter, err error) {
	status, code := classify(err)
	api.JSON(w, status, errorBody{Error: err.Error(), Code: code})
}

// classify maps an error to an HTTP status and a code.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, types.ErrInsufficientCapacity):
		return http.StatusConflict, "InsufficientCapacity"
	case errors.Is(err, lifecycle.ErrConflict):
		return http.StatusConflict, "IncorrectState"
	case errors.Is(err, errBadRequest), errors.Is(err, types.ErrInvalid), errors.Is(err, images.ErrInvalid),
		errors.Is(err, netcfg.ErrInvalid), errors.Is(err, auth.ErrInvalidName):
		return http.StatusBadRequest, "InvalidParameter"
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, auth.ErrNotFound),
		errors.Is(err, lifecycle.ErrNotFound), errors.Is(err, types.ErrNotFound), errors.Is(err, images.ErrNotFound):
		return http.StatusNotFound, "NotFound"
	case errors.Is(err, store.ErrExists), errors.Is(err, auth.ErrExists), errors.Is(err, types.ErrExists),
		errors.Is(err, images.ErrExists):
		return http.StatusConflict, "AlreadyExists"
	}
	return http.StatusInternalServerError, "InternalError"
}
