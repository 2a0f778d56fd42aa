/**
 * Loaded with `node --import` into a builder agent: moves the process's time source
 * (`Date.now`, which the agent's clock and every status's `sentAt` read) by
 * BUILDMESH_TEST_CLOCK_SKEW_MS, as a host with a wrong system clock would. Test-only.
 */
const skewMs = Number(process.env.BUILDMESH_TEST_CLOCK_SKEW_MS ?? '0')
const realNow = Date.now.bind(Date)
Date.now = () => realNow() + skewMs
