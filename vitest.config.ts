import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts']
        }
      },
      {
        test: {
          name: 'lan',
          include: ['test/lan/**/*.test.ts'],
          // Hosts are network namespaces on a 2-core machine: one file at a time keeps timings honest.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000
        }
      }
    ]
  }
})
