from lmlab.inspect.frames import pick_frames


def test_frames_are_evenly_spaced_with_the_first_and_last_step():
    steps = list(range(0, 1001, 100))
    assert pick_frames(steps, 6) == [0, 200, 400, 600, 800, 1000]
    assert pick_frames(steps, 2) == [0, 1000]
    assert pick_frames(steps, 1) == [0]


def test_fewer_steps_than_frames_gives_each_step_once():
    assert pick_frames([5, 10, 15], 6) == [5, 10, 15]
    assert pick_frames([], 6) == []
    assert pick_frames([5, 10], 0) == []
