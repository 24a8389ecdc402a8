// Command pjlink drives projectors over PJLink class 1 (built to bin/drivers/pjlink). The host
// launches it; run by hand with --metadata it prints its metadata.
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
