import { describe, expect, it } from 'vitest'
import { WaitingBuilds } from '../../../scheduler/waiting-builds.ts'

const build = (expectedWork?: number): { system: string, requiredFeatures: string[], expectedWork?: number } =>
  ({ system: 'x86_64-linux', requiredFeatures: [], expectedWork })

describe('WaitingBuilds', () => {
  it('holds what it was told to wait for until Nix asks about it again', () => {
    const waiting = new WaitingBuilds(5)
    waiting.wait('a', build(100), 'poll', 0)
    waiting.wait('b', build(), 'build-end', 0)
    expect(waiting.queue(0, [])).toHaveLength(2)
    waiting.asked('a', 1)
    expect(waiting.queue(1, [])).toEqual([{ ...build(), askedAgainIn: 5 }])
  })

  it('keeps the chain waiting for each, so the plan can put it first', () => {
    const waiting = new WaitingBuilds(5)
    waiting.wait('a', { ...build(10), chainAfter: 300 }, 'poll', 0)
    expect(waiting.queue(0, [])).toEqual([{ ...build(10), chainAfter: 300, askedAgainIn: 5 }])
  })

  it('expects a postponed build back at the next poll', () => {
    const waiting = new WaitingBuilds(5)
    waiting.wait('a', build(100), 'poll', 10)
    expect(waiting.queue(12, []).map((q) => q.askedAgainIn)).toEqual([3])
    expect(waiting.queue(20, []).map((q) => q.askedAgainIn)).toEqual([0])
  })

  it('expects a build back as often as its own run of Nix polls', () => {
    const waiting = new WaitingBuilds(5)
    waiting.wait('a', build(100), 'poll', 10, 101, 1)
    waiting.wait('b', build(100), 'poll', 10, 202)
    waiting.wait('c', build(100), 'build-end', 10, 101, 1)
    expect(waiting.queue(10.5, []).map((q) => q.askedAgainIn)).toEqual([0.5, 4.5, 1])
  })

  it('expects a build waiting for a slot back when a build ends: now if one just did, else at the next expected end', () => {
    const waiting = new WaitingBuilds(5)
    waiting.wait('a', build(100), 'build-end', 10)
    expect(waiting.queue(11, [{ endsIn: [30, 2] }, { endsIn: undefined }]).map((q) => q.askedAgainIn)).toEqual([2])
    // No running build it knows the end of: Nix's next poll is the latest it looks again.
    expect(waiting.queue(11, [{ endsIn: [30] }]).map((q) => q.askedAgainIn)).toEqual([5])
    waiting.buildEnded(12)
    expect(waiting.queue(12, [{ endsIn: [30] }]).map((q) => q.askedAgainIn)).toEqual([0])
    // Asked again after that end and told to wait again: back to waiting for the next one.
    waiting.asked('a', 12)
    waiting.wait('a', build(100), 'build-end', 12)
    expect(waiting.queue(12, [{ endsIn: [30] }]).map((q) => q.askedAgainIn)).toEqual([5])
  })

  it('forgets a build Nix has not asked about for a long time', () => {
    const waiting = new WaitingBuilds(5, 60)
    waiting.wait('gone', build(100), 'build-end', 0)
    waiting.wait('recent', build(100), 'build-end', 50)
    waiting.asked('other', 61)
    expect(waiting.queue(61, [])).toEqual([{ ...build(100), askedAgainIn: 5 }])
  })

  it('lists the builds waiting for a build to end, takes a served answer as asked again, and copies without sharing', () => {
    const waiting = new WaitingBuilds(5)
    waiting.wait('a', build(100), 'build-end', 10)
    waiting.wait('b', build(1), 'poll', 10)
    expect(waiting.buildEndWaiters()).toEqual([{ key: 'a', build: build(100) }])
    waiting.buildEnded(12)
    const copy = waiting.clone()
    waiting.askedAgain('a', 13)
    waiting.askedAgain('gone', 13)
    expect(waiting.queue(13, [{ endsIn: [2] }]).map((q) => q.askedAgainIn)).toEqual([2, 2])
    expect(copy.queue(13, [{ endsIn: [2] }]).map((q) => q.askedAgainIn)).toEqual([0, 2])
  })

  it('forgets a build waiting for a slot that Nix did not ask about again in the round after an end: it was built meanwhile', () => {
    const waiting = new WaitingBuilds(5, 60, 2)
    waiting.wait('ghost', build(8), 'build-end', 10)
    waiting.wait('asked', build(3), 'build-end', 10)
    waiting.wait('sleeps', build(3), 'poll', 10)
    waiting.buildEnded(11)
    // Within the round after the end, both may still be asked.
    waiting.asked('other', 12)
    expect(waiting.buildEndWaiters().map((w) => w.key)).toEqual(['ghost', 'asked'])
    waiting.askedAgain('asked', 11.5)
    // Two seconds on, only the one Nix asked about again still waits; a postponed one sleeps on.
    waiting.asked('other', 13.5)
    expect(waiting.buildEndWaiters().map((w) => w.key)).toEqual(['asked'])
    expect(waiting.queue(13.5, [])).toHaveLength(2)
  })

  it('keeps the runs of Nix apart: a waiter is asked again, and forgotten, only after an end of its own run', () => {
    const waiting = new WaitingBuilds(5, 60, 2)
    waiting.wait('mine', build(8), 'build-end', 10, 101)
    waiting.wait('theirs', build(8), 'build-end', 10, 202)
    waiting.wait('unknown', build(8), 'build-end', 10)
    // A build of run 101 ends: only its waiters, and those of no known run, are about to be asked.
    waiting.buildEnded(11, 101)
    expect(waiting.queue(11, [{ endsIn: [4] }]).map((q) => q.askedAgainIn)).toEqual([0, 4, 0])
    expect(waiting.buildEndWaiters(101).map((w) => w.key)).toEqual(['mine', 'unknown'])
    expect(waiting.buildEndWaiters(202).map((w) => w.key)).toEqual(['theirs', 'unknown'])
    // Nobody asked about them in the round after that end: run 101's waiter was built meanwhile.
    waiting.asked('other', 14)
    expect(waiting.buildEndWaiters().map((w) => w.key)).toEqual(['theirs'])
    // An end of no known run counts for every run.
    waiting.buildEnded(15)
    expect(waiting.queue(15, []).map((q) => q.askedAgainIn)).toEqual([0])
  })
})
