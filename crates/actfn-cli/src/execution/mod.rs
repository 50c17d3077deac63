//! Running a task's candidates: the task a search or comparison trains, the executors
//! that run it inline or as worker processes (local or Slurm), and the workers' folders.

pub mod dispatch;
pub mod task;
pub mod work_dir;
