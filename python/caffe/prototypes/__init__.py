"""Python prototypes of layers that the fork also ships as native layers.

They are the reference semantics of their native ports (and the starting
point of a port): use them in a net as `type: "Python"` with
`python_param { module: "caffe.prototypes.<module>" layer: "<Class>" }`.
"""
