package clustertls

import "github.com/placeos-go/engine/errkind"

var (
	// ErrBadMaterial: a CA, certificate or key file that cannot be used.
	ErrBadMaterial = errkind.New(errkind.BadRequest, "bad TLS material")
	// ErrNotACluster: a peer whose certificate the cluster's CA did not sign.
	ErrNotACluster = errkind.New(errkind.Unauthorized, "not a certificate of this cluster")
)
