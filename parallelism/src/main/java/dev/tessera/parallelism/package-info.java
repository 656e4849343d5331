/**
 * The device mesh {@code dp x pp x tp x cp x ep}, parallel layer styles applied from outside the
 * model, pipeline schedules, data parallelism with ZeRO-1, and the planner's cost model (issue 6).
 */
package dev.tessera.parallelism;
