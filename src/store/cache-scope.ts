// Which saved entries a job may restore: GitHub's cache scopes. A job reads the entries saved on
// its own ref, on the default branch and, for a pull request, on its base branch; nothing saved
// on another branch, tag or pull request. restore-all-matches lists entries through the REST API,
// which shows every ref's: an entry the job cannot read would take one of its few slots and then
// miss, so anyone who can push a branch could crowd the real ones out.

/** The refs of the job, as the runner gives them (GITHUB_REF, GITHUB_BASE_REF, the event's default branch). */
export interface JobRefs {
  ref: string;
  /** A pull request's base branch name (GITHUB_BASE_REF), empty otherwise. */
  baseRef?: string;
  /** The repository's default branch name, from the event payload; undefined when unknown. */
  defaultBranch?: string | undefined;
}

/**
 * Whether the job may restore an entry saved on `entryRef`. Without the default branch (no event
 * payload) only other pull requests' entries are left out: the service still refuses the rest,
 * which then miss.
 */
export function readableRef(entryRef: string, job: JobRefs): boolean {
  if (entryRef === job.ref) return true;
  if (job.defaultBranch === undefined) return !entryRef.startsWith('refs/pull/');
  if (entryRef === `refs/heads/${job.defaultBranch}`) return true;
  return !!job.baseRef && entryRef === `refs/heads/${job.baseRef}`;
}
