"""Global budget control (总额控制): the year's payment total, its split, the monthly cycle, the clearing."""
