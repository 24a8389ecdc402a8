// Package atomicfile replaces a file whole: a crash or a power cut leaves either its old content
// or its new, never a part of it nor an empty file. The engine keeps a few small files it reads
// back at its next start (the cluster's keys and certificates, the build record of a driver, the
// record of the model file's last apply); each is written this one way.
package atomicfile
