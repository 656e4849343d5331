/** Spark entry points: tokenise and shard data, host the workers in a barrier stage (issue 8). */
package dev.tessera.jobs;
