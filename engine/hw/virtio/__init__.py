"""virtio devices on QEMU's virtio-mmio transport: block, 9p file sharing, entropy."""
