# Recipes for people who have `just`; each is a thin call of the xtask.

# Boot the default image (block_pager) on QEMU virt; e.g. `just run --cpu max --el2`.
run *ARGS:
    cargo xtask run {{ARGS}}

# Every host test and every QEMU test.
test:
    cargo xtask test

# Boot an image with extra QEMU arguments: `just qemu boot --mem 512 -- -d int`.
qemu *ARGS:
    cargo xtask qemu {{ARGS}}

# Boot halted with a gdb server on :1234.
gdb *ARGS:
    cargo xtask gdb {{ARGS}}
