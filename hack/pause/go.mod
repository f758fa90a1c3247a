module mlmodel.dev/hack/pause

go 1.26
